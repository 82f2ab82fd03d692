/**
 * `npm run chaos`: overload at 10× capacity, then chaos (servers killed and
 * stalled, worker threads crashing, garbage, the device restarted) under
 * load, each bounded in time. Prints the ledgers, writes results/chaos.md
 * (and the full record to results/raw/chaos.json). Exit 1 when a request was lost or got a wrong reply,
 * 2 for a usage error.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runChaos, ledgerTable, type Ledger } from '../bench/chaos.js';
import { runOverload, type OverloadReport } from '../bench/overload.js';
import { environment } from '../bench/lib/results.js';
import { countdown } from '../bench/lib/progress.js';

const HELP = `Usage: npm run chaos -- [options]

  --duration S           chaos phase length (default 60)
  --overload-duration S  overload phase length at 10× capacity (default 30; 0 skips it)
  --clients N            closed-loop clients in the chaos phase (default 40)
  --devices N            devices in the chaos phase (default 1: one zqueue serve; more: zqueue device
                         processes that every server and client knows, killed -9 and restarted in turn)
  --servers N            remote zqueue server processes (default 2 with one device, 4 with several)
  --quick                12 s of chaos and 5 s of overload
  --out DIR              where results go (default results: chaos.md, or chaos-devices-N.md
                         with several devices; the full record in raw/)
  --no-write             do not write files`;

function overloadTable(r: OverloadReport): string {
  return [
    '| overload | |',
    '| --- | ---: |',
    `| capacity / offered | ${r.capacity_rps} / ${r.offered_rps} req/s for ${(r.duration_ms / 1000).toFixed(0)} s |`,
    `| sent | ${r.sent} |`,
    `| answered | ${r.answered} (${r.accepted_rps} req/s, ${(r.accepted_share * 100).toFixed(0)} % of capacity, ${r.accepted_vs_baseline.toFixed(2)}× the ${r.baseline_rps} req/s closed-loop clients got just before) |`,
    `| busy | ${r.busy} (p50 ${r.busy_latency.p50_us} µs, p99 ${r.busy_latency.p99_us} µs) |`,
    `| other errors | ${r.other_errors} |`,
    `| **lost** | **${r.lost}** |`,
    `| peak queue | ${r.peak_queued} |`,
    `| RSS before / peak / after | ${r.rss_mb.before} / ${r.rss_mb.peak} / ${r.rss_mb.after} MB |`,
    `| recovery | ${r.recovered ? 'yes' : '**no**'}, slowest of 20 requests ${r.recovery_max_ms} ms |`,
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        duration: { type: 'string' },
        'overload-duration': { type: 'string' },
        clients: { type: 'string' },
        devices: { type: 'string' },
        servers: { type: 'string' },
        quick: { type: 'boolean' },
        out: { type: 'string' },
        'no-write': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    console.error(`chaos: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
  if (values.help === true) {
    console.log(HELP);
    return 0;
  }
  const integer = (
    name: 'duration' | 'overload-duration' | 'clients' | 'devices' | 'servers',
    fallback: number,
    min: number,
    max: number,
  ): number => {
    const raw = values[name];
    const n = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    return n;
  };
  let chaosS: number;
  let overloadS: number;
  let clients: number;
  let devices: number;
  let servers: number | undefined;
  try {
    chaosS = integer('duration', values.quick === true ? 12 : 60, 0, 3600);
    overloadS = integer('overload-duration', values.quick === true ? 5 : 30, 0, 3600);
    clients = integer('clients', 40, 1, 1000);
    devices = integer('devices', 1, 1, 16);
    servers = values.servers === undefined ? undefined : integer('servers', 0, 1, 64);
  } catch (err) {
    console.error(`chaos: ${(err as Error).message}`);
    return 2;
  }
  let overload: OverloadReport | undefined;
  if (overloadS > 0) {
    console.error(`overload: ${overloadS} s at 10× capacity…`);
    const stop = countdown('overload', overloadS * 1000);
    try {
      overload = await runOverload({ durationMs: overloadS * 1000, factor: 10 });
    } finally {
      stop();
    }
    console.log(`${overloadTable(overload)}\n`);
  }
  let ledger: Ledger | undefined;
  if (chaosS > 0) {
    console.error(`chaos: ${chaosS} s, ${clients} clients, ${devices} device${devices === 1 ? '' : 's'}…`);
    const stop = countdown('chaos', chaosS * 1000);
    try {
      ledger = await runChaos({
        durationMs: chaosS * 1000,
        clients,
        devices,
        ...(servers !== undefined ? { servers } : {}),
        log: (l) => console.error(`  ${l}`),
      });
    } finally {
      stop();
    }
    console.log(ledgerTable(ledger));
  }
  if (values['no-write'] !== true) {
    const out = values.out ?? 'results';
    mkdirSync(join(out, 'raw'), { recursive: true });
    const at = new Date().toISOString();
    const name = devices === 1 ? 'chaos' : `chaos-devices-${devices}`;
    const base = join(out, name);
    // The full record goes to raw/ (not committed); the page beside it is what the docs link to.
    writeFileSync(join(out, 'raw', `${name}.json`), `${JSON.stringify({ at, environment: environment(), overload, ledger }, null, 2)}\n`);
    const md = [
      `# zqueue chaos: ${at}`,
      '',
      ...(overload !== undefined ? [overloadTable(overload), ''] : []),
      ...(ledger !== undefined ? [ledgerTable(ledger), ''] : []),
    ].join('\n');
    writeFileSync(`${base}.md`, md);
    console.error(`wrote ${base}.json and ${base}.md`);
  }
  const bad = (ledger?.lost ?? 0) + (ledger?.wrong ?? 0) + (overload?.lost ?? 0);
  return bad > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
