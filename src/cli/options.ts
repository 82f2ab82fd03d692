/**
 * The options only the command line has: running a device from the CLI
 * (metrics, control, logs), the seed's server and client, zqueue bench, bench
 * compare, keygen, tap and ctl. Written with the same builders as the
 * library's tables in src/options.ts, so flags, defaults and help come from
 * one place.
 */
import { invalidOption } from '../errors.js';
import { checkControlEndpoint, parseListenAddress } from '../endpoints.js';
import { LOG_FORMATS, MAX_MS, bool, curveClientKeys, int, pick, spec, text, type LogFormat, type OptionTable } from '../options.js';

/** Running a device or broker from the CLI: metrics, the stats line, control, logs. */
export const operateOptions = {
  metrics: spec(
    '',
    'serve Prometheus /metrics, /healthz and /readyz here ([HOST:]PORT, host 127.0.0.1 unless given)',
    (n, v) => {
      if (typeof v !== 'string') throw invalidOption(n, 'a string', v);
      if (v !== '') parseListenAddress(n, v);
    },
    { flag: 'metrics', arg: '[HOST:]PORT', shownDefault: 'off' },
  ),
  statsIntervalS: int(0, 0, 86_400, 'print one line of rates and latency percentiles to stderr every S seconds (0: never)', {
    flag: 'stats-interval',
    arg: 'S',
  }),
  control: spec(
    '',
    'answer pause|resume|stats|stop on a REP socket (ipc:// or tcp://127.0.0.1:PORT only)',
    (n, v) => {
      if (typeof v !== 'string') throw invalidOption(n, 'a string', v);
      if (v !== '') checkControlEndpoint(v);
    },
    { flag: 'control', arg: 'ENDPOINT', shownDefault: 'off' },
  ),
  logFormat: pick<LogFormat>('text', LOG_FORMATS, 'lifecycle log lines on stderr', { flag: 'log-format', arg: 'text|json' }),
  statsOnExit: bool(false, "print the device's statistics when it stops", { flag: 'stats-on-exit' }),
} satisfies OptionTable;

/** `zqueue server`'s seed behaviour. */
export const seedServerOptions = {
  delayMs: int(1_000, 0, MAX_MS, 'wait this long before replying (as the seed)', { flag: 'delay', arg: 'MS' }),
  quiet: bool(false, 'do not print each request', { flag: 'quiet' }),
  handler: text('', "answer with this module's default export instead (as zqueue serve)", {
    flag: 'handler',
    arg: 'FILE',
    shownDefault: "the seed's",
  }),
  health: spec(
    '',
    'serve /healthz and /readyz here ([HOST:]PORT, host 127.0.0.1 unless given): ready while it serves a device',
    (n, v) => {
      if (typeof v !== 'string') throw invalidOption(n, 'a string', v);
      if (v !== '') parseListenAddress(n, v);
    },
    { flag: 'health', arg: '[HOST:]PORT', shownDefault: 'off' },
  ),
} satisfies OptionTable;

/** `zqueue client`'s seed behaviour. */
export const seedClientOptions = {
  requests: int(9, 0, 1_000_000_000, 'how many requests to make (as the seed)', { flag: 'requests', arg: 'N' }),
  message: text('', 'the request', { flag: 'message', arg: 'TEXT', shownDefault: '"Hello from <id>"' }),
} satisfies OptionTable;

/** `zqueue bench`: load against any REQ/REP service, or a handler through zqueue serve. */
export const loadOptions = {
  connect: text(
    '',
    "the service to load: any endpoint a REQ client can reach (a device's frontend, a bound server; several " +
      'comma-separated: clients are spread over them)',
    {
      flag: 'connect',
      arg: 'ENDPOINT[,...]',
      shownDefault: '',
    },
  ),
  handler: text(
    '',
    'instead: run this handler module through zqueue serve on each backend (tcp, ipc, inproc) and 1 to all cores of worker threads',
    {
      flag: 'handler',
      arg: 'FILE',
      shownDefault: '',
    },
  ),
  clients: int(100, 1, 100_000, 'REQ clients, each with one request in flight (spread over load-generator processes)', {
    flag: 'clients',
    arg: 'N',
  }),
  inFlight: int(
    1,
    1,
    100_000,
    "requests each client keeps outstanding on its one connection: above 1, each client is zqueue's multiplexing client, " +
      'batched where the device takes batches (as nats bench, redis-benchmark -P)',
    {
      flag: 'in-flight',
      arg: 'N',
    },
  ),
  durationS: int(10, 1, 86_400, 'measured time, after every client has had a first reply (with --requests: the most it may take)', {
    flag: 'duration',
    arg: 'S',
  }),
  requests: int(0, 0, 1_000_000_000, 'stop after this many measured requests (0: run for --duration)', { flag: 'requests', arg: 'N' }),
  rateRps: int(
    0,
    0,
    10_000_000,
    'open loop: offer this many requests a second in all, latency counted from when each was due (0: closed loop)',
    { flag: 'rate', arg: 'R' },
  ),
  sizeBytes: int(16, 0, 16 * 1024 * 1024, 'request body size (bytes of "a")', { flag: 'size', arg: 'BYTES' }),
  message: text('', 'the request body instead of --size bytes', { flag: 'message', arg: 'TEXT', shownDefault: '' }),
  timeoutMs: int(
    5_000,
    1,
    MAX_MS,
    "one attempt's limit: past it the request counts as a timeout and the client resends on a fresh socket",
    { flag: 'timeout', arg: 'MS' },
  ),
  ...curveClientKeys('the service', 'client', 'a service with an allow-list'),
  json: bool(false, 'print a versioned JSON document on stdout (the table and the live line go to stderr)', { flag: 'json' }),
  clientsPerProcess: int(2_500, 1, 10_000, 'clients per load-generator process (each holds a descriptor per client)', {
    flag: 'clients-per-process',
    arg: 'N',
  }),
  cpuPid: int(
    0,
    0,
    4_194_304,
    "--connect: also report this process's CPU per request, by thread: main, libzmq's, the rest (Linux /proc; with " +
      "--handler it is always zqueue serve's own)",
    { flag: 'cpu-pid', arg: 'PID', shownDefault: 'none' },
  ),
  repeats: int(1, 1, 100, 'measure each target this many times, interleaved (samples for zqueue bench compare)', {
    flag: 'repeat',
    arg: 'N',
  }),
  exportJson: text('', 'write the versioned JSON document (what --json prints) to FILE', {
    flag: 'export-json',
    arg: 'FILE',
    shownDefault: '',
  }),
  exportCsv: text('', 'write one CSV row per client and run: requests, errors, timeouts, req/s, p50, p99', {
    flag: 'export-csv',
    arg: 'FILE',
    shownDefault: '',
  }),
  exportMarkdown: text('', 'write the result table as Markdown', { flag: 'export-markdown', arg: 'FILE', shownDefault: '' }),
  exportGithubBenchmark: text(
    '',
    "write github-action-benchmark's customBiggerIsBetter entries (throughput) to FILE, and customSmallerIsBetter ones " +
      '(latency percentiles) to FILE with .latency.json',
    { flag: 'export-github-benchmark', arg: 'FILE', shownDefault: '' },
  ),
  exportBmf: text('', 'write Bencher Metric Format (throughput, latency in ns)', { flag: 'export-bmf', arg: 'FILE', shownDefault: '' }),
  exportHdr: text('', 'write an HdrHistogram interval log (.hlog): one histogram per second of measuring, tagged with the run, in µs', {
    flag: 'export-hdr',
    arg: 'FILE',
    shownDefault: '',
  }),
} satisfies OptionTable;

export const compareOptions = {
  thresholdPct: int(
    15,
    1,
    99,
    'a figure worse by more than this many percent, with its whole 95 % bootstrap interval worse than zero, regresses',
    { flag: 'threshold', arg: 'PCT' },
  ),
  exportMarkdown: text('', 'write the comparison table as Markdown', { flag: 'export-markdown', arg: 'FILE', shownDefault: '' }),
} satisfies OptionTable;

export const keygenOptions = {
  dir: text('.', 'where to write', { flag: 'dir', arg: 'DIR', shownDefault: 'the current folder' }),
} satisfies OptionTable;

export const tapOptions = {
  count: int(0, 0, 1_000_000_000, 'stop after N messages (0: run until Ctrl-C)', { flag: 'count', arg: 'N' }),
} satisfies OptionTable;

export const ctlOptions = {
  timeoutMs: int(2_000, 1, MAX_MS, 'wait this long for the answer', { flag: 'timeout', arg: 'MS' }),
} satisfies OptionTable;
