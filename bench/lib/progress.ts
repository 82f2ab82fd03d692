/**
 * A progress bar with the time left on a terminal, plain lines with the time
 * left elsewhere (CI logs). The estimate is the mean time per step so far
 * times the steps still to go, so it settles as the run goes on.
 */
export interface Progress {
  tick(done: number, total: number, label: string): void;
  done(): void;
}

/** `1 min 05 s`, `42 s`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s >= 60 ? `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s` : `${s} s`;
}

/** The time left after `done` of `total` steps taking `elapsedMs`; undefined before the first step. */
export function timeLeft(done: number, total: number, elapsedMs: number): string | undefined {
  if (done <= 0 || total <= done) return undefined;
  return formatDuration((elapsedMs / done) * (total - done));
}

export function progress(
  stream: NodeJS.WriteStream = process.stderr,
  quiet = false,
  now: () => number = () => performance.now(),
): Progress {
  if (quiet) return { tick: () => {}, done: () => {} };
  let started: number | undefined;
  let phase = -1;
  const left = (done: number, total: number): string => {
    // One bar serves several scenarios in turn: each starts its own clock.
    if (started === undefined || done === 0 || total !== phase) started = now();
    phase = total;
    const t = timeLeft(done, total, now() - started);
    return t === undefined ? '' : `, about ${t} left`;
  };
  if (stream.isTTY) {
    return {
      tick(done, total, label) {
        const width = 30;
        const filled = total === 0 ? width : Math.round((done / total) * width);
        const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}${left(done, total)} ${label}`;
        stream.write(`\r${line.slice(0, (stream.columns || 100) - 1).padEnd((stream.columns || 100) - 1)}`);
      },
      done() {
        stream.write('\n');
      },
    };
  }
  return {
    tick(done, total, label) {
      stream.write(`${done}/${total}${left(done, total)} ${label}\n`);
    },
    done() {},
  };
}

/**
 * For a phase of known length: a line every `everyMs` saying how far it is
 * and the time left (the phase's own clock; its end waits for the last
 * replies, which the line does not guess). Returns the function that stops it.
 */
export function countdown(label: string, totalMs: number, stream: NodeJS.WritableStream = process.stderr, everyMs = 5000): () => void {
  const started = performance.now();
  const timer = setInterval(() => {
    const elapsed = performance.now() - started;
    stream.write(
      `${label}: ${formatDuration(elapsed)} of ${formatDuration(totalMs)}, about ${formatDuration(Math.max(0, totalMs - elapsed))} left\n`,
    );
  }, everyMs);
  return () => clearInterval(timer);
}
