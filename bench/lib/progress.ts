/** A progress bar on a terminal, plain lines elsewhere (CI logs). */
export interface Progress {
  tick(done: number, total: number, label: string): void;
  done(): void;
}

export function progress(stream: NodeJS.WriteStream = process.stderr, quiet = false): Progress {
  if (quiet) return { tick: () => {}, done: () => {} };
  if (stream.isTTY) {
    return {
      tick(done, total, label) {
        const width = 30;
        const filled = total === 0 ? width : Math.round((done / total) * width);
        const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label}`;
        stream.write(`\r${line.slice(0, (stream.columns || 100) - 1).padEnd((stream.columns || 100) - 1)}`);
      },
      done() {
        stream.write('\n');
      },
    };
  }
  return {
    tick(done, total, label) {
      stream.write(`${done}/${total} ${label}\n`);
    },
    done() {},
  };
}
