/**
 * The guard for src/inproc.ts: it relies on the installed zeromq.js copying
 * Buffer frames of 128 bytes or less, and sending strings from a C++ copy.
 * If an upgrade changes either, these fail loudly before anything crashes:
 * the source checks name what changed, and the run sends large frames both
 * ways between threads over inproc, in a child process, so that a crash is a
 * failed test and not a dead test runner.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { INPROC_MAX_FRAME } from '../src/endpoints.js';
import { ROOT, run, within } from './helpers.js';

const ZMQ_SRC = join(ROOT, 'node_modules', 'zeromq', 'src');

describe('inproc guard: the zeromq.js behaviour the codec relies on', () => {
  it('copies Buffer frames up to 128 bytes both ways (zero_copy_threshold = 1 << 7)', () => {
    for (const file of ['outgoing_msg.cc', 'incoming_msg.cc']) {
      const src = readFileSync(join(ZMQ_SRC, file), 'utf8');
      const m = /zero_copy_threshold\s*=\s*1U\s*<<\s*(\d+)U/.exec(src);
      assert.ok(m !== null, `${file}: zero_copy_threshold not found; zeromq.js changed, review src/inproc.ts`);
      assert.equal(2 ** Number(m[1]), INPROC_MAX_FRAME, `${file}: the threshold is no longer ${INPROC_MAX_FRAME} bytes`);
    }
  });

  it('sends a string frame from a std::string copy, released with delete', () => {
    const src = readFileSync(join(ZMQ_SRC, 'outgoing_msg.cc'), 'utf8');
    assert.match(
      src,
      /case napi_string:\s*string_send\(new std::string\(/,
      'strings are no longer copied into a std::string; review src/inproc.ts',
    );
    assert.match(src, /delete static_cast<std::string\*>\(str\)/, 'a string frame is no longer released with delete');
  });

  it('carries 129 B to 64 KiB frames between threads over inproc both ways, under load, without a crash', async () => {
    const p = run(process.execPath, [join(ROOT, 'dist', 'scripts', 'inproc-check.js'), '--seconds', '4', '--codec']);
    const code = await within(60_000, 'inproc check', p.exited);
    assert.equal(code, 0, `${p.stdout()}\n${p.stderr()}`);
    assert.match(p.stdout(), /codec: \d+ echoes, 0 wrong/);
  });
});
