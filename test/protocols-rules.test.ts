/** The worker protocols' rules, socket-free: what each codec makes of a worker's message, and what it sends. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { codecFor, isWorkerMessage, type OutgoingRequest, type PeerView, type WorkerEvent } from '../src/protocols/index.js';
import { pirateCodec, PPP_HEARTBEAT, PPP_READY } from '../src/protocols/pirate.js';
import {
  MDP,
  MDP_CLIENT,
  MDP_WORKER,
  clientRequest,
  fromDevice as fromMajordomoDevice,
  majordomoCodec,
} from '../src/protocols/majordomo.js';
import {
  BATCH_ENTRY_DEADLINE,
  BYE,
  HEARTBEAT,
  READY,
  REPLIES,
  REQUESTS,
  appendBatch,
  fromDevice,
  parseBatch,
  requestBatch,
  zqueueCodec,
} from '../src/protocols/zqueue.js';

const W = Buffer.from('worker-1');
const E = Buffer.alloc(0);
const b = (s: string): Buffer => Buffer.from(s);
const u32 = (n: number): Buffer => {
  const f = Buffer.alloc(4);
  f.writeUInt32BE(n);
  return f;
};
const unknown: PeerView = { known: false, held: () => undefined };
const known = (held?: OutgoingRequest): PeerView => ({ known: true, held: () => held });
const request = (id: number, frames: Buffer[], bodyAt: number): OutgoingRequest => ({ id, frames, bodyAt, deadline: 0 });

function decode(frames: Buffer[], peer: PeerView, protocol?: 'zqueue' | 'ppp' | 'mdp'): WorkerEvent {
  return codecFor(frames, protocol).decode(frames, peer);
}

describe('protocols: which codec a message goes to', () => {
  it('Majordomo by its header, Paranoid Pirate by a one-byte command or by what the worker spoke, zqueue otherwise', () => {
    assert.equal(codecFor([W, E, MDP_WORKER, MDP.READY, b('echo')], undefined).name, 'mdp');
    assert.equal(codecFor([W, PPP_READY], undefined).name, 'ppp');
    assert.equal(codecFor([W, b('client'), E, b('reply')], 'ppp').name, 'ppp');
    assert.equal(codecFor([W, b('client'), E, b('reply')], 'zqueue').name, 'zqueue');
    assert.equal(codecFor([W, E, READY, b('4')], undefined).name, 'zqueue');
  });

  it("on a shared socket, commands and known workers' replies are workers'; requests are clients'", () => {
    assert.equal(isWorkerMessage([W, E, READY, b('1')], false), true);
    assert.equal(isWorkerMessage([W, E, MDP_WORKER, MDP.HEARTBEAT], false), true);
    assert.equal(isWorkerMessage([W, PPP_HEARTBEAT], false), true);
    assert.equal(isWorkerMessage([W, E, b('hello')], false), false, 'a REQ client request');
    assert.equal(isWorkerMessage([W, E, b('hello')], true), false, 'a request, even from a known peer');
    assert.equal(isWorkerMessage([W, u32(7), b('c'), E, b('reply')], true), true);
    assert.equal(isWorkerMessage([W, E], false), false, 'a ROUTER_NOTIFY connect/disconnect');
  });
});

describe('protocols: zqueue', () => {
  it('READY reads credits, heartbeat and version (3: batches and deadlines; 4: packed batches)', () => {
    const e = decode([W, E, READY, b('8'), b('1000'), b('3')], unknown);
    assert.equal(e.kind, 'ready');
    if (e.kind !== 'ready') return;
    assert.deepEqual(
      { ...e.joining },
      { credits: 8, heartbeats: true, batches: true, deadlines: true, packed: false, prefetch: true, protocol: 'zqueue' },
    );
    const v4 = decode([W, E, READY, b('8'), b('1000'), b('4')], unknown);
    assert.ok(v4.kind === 'ready' && v4.joining.packed && v4.joining.deadlines);
    assert.equal(e.greet, true);
    const v1 = decode([W, E, READY, b('x')], unknown);
    assert.ok(
      v1.kind === 'ready' && v1.joining.credits === 1 && !v1.joining.batches && !v1.joining.heartbeats,
      'bad credits become 1; no version is 1',
    );
  });

  it("a REPLIES batch gives each reply's id and body; one that does not add up is malformed; an unknown sender is told to reconnect", () => {
    const msg = [W, E, REPLIES];
    appendBatch(msg, [
      { id: 5, frames: [b('a')], bodyAt: 0 },
      { id: 6, frames: [b('b'), b('c')], bodyAt: 0 },
    ]);
    const e = decode(msg, unknown);
    assert.ok(e.kind === 'replies');
    assert.deepEqual(e.replies, [
      { id: 5, from: 4, to: 5 },
      { id: 6, from: 5, to: 7 },
    ]);
    assert.equal(e.disconnect, true);
    assert.equal(decode([W, E, REPLIES, Buffer.alloc(7)], known()).kind, 'malformed');
  });

  it('a version-1 reply carries its id; without an envelope the client still gets an answer (from -1)', () => {
    const e = decode([W, u32(9), b('client'), E, b('ok')], known());
    assert.ok(e.kind === 'replies' && e.replies[0]?.id === 9 && e.replies[0].from === 4 && !e.disconnect);
    const bare = decode([W, u32(9), b('ok')], known());
    assert.ok(bare.kind === 'replies' && bare.replies[0]?.from === -1);
  });

  it('HEARTBEAT, BYE, and an unknown verb (malformed control)', () => {
    assert.deepEqual(decode([W, E, HEARTBEAT], known()), { kind: 'heartbeat', disconnectUnknown: true });
    assert.deepEqual(decode([W, E, BYE], known()), { kind: 'bye' });
    const e = decode([W, E, b('PLEASE')], known());
    assert.ok(e.kind === 'malformed' && e.control);
  });

  it("a version-3 batch carries each request's budget; the worker reads it back", () => {
    const now = 1000;
    const items = Array.from({ length: 25 }, (_, i) => ({
      id: i + 1,
      frames: [b('env'), E, b(`body${i}`)],
      bodyAt: 2,
      deadline: i % 2 === 0 ? now + 250 : 0,
    }));
    const msg = requestBatch(W, items, now);
    assert.equal(msg[2]?.equals(REQUESTS), true);
    const headers = msg.slice(3).filter((f) => !f.toString().startsWith('body'));
    assert.deepEqual(
      headers.map((h) => h.length),
      [120, 120, 60],
      'headers of at most 128 bytes: 10, 10 and 5 entries',
    );
    const m = fromDevice(msg.slice(1));
    assert.ok(m.kind === 'requests');
    assert.equal(m.entries.length, 25);
    assert.deepEqual(m.entries.map((e) => e.budgetMs).slice(0, 3), [250, 0, 250]);
    assert.equal(fromDevice(msg.slice(1), 2).kind, 'malformed', 'a version-2 reading of 12-byte entries does not add up');
    assert.equal(parseBatch(msg, 3, BATCH_ENTRY_DEADLINE)?.length, 25);
  });

  it('a budget already spent goes as 1 ms, never as 0 (which means none)', () => {
    const msg = requestBatch(W, [{ id: 1, frames: [b('x')], bodyAt: 0, deadline: 5 }], 10);
    const m = fromDevice(msg.slice(1));
    assert.ok(m.kind === 'requests' && m.entries[0]?.budgetMs === 1);
  });

  it('encodes a version-1 request with its id ahead of the envelope, and commands', () => {
    assert.deepEqual(zqueueCodec.request(W, request(3, [b('c'), E, b('x')], 2), 0), [W, u32(3), b('c'), E, b('x')]);
    assert.deepEqual(zqueueCodec.heartbeat(W), [W, E, HEARTBEAT]);
    assert.deepEqual(zqueueCodec.disconnect(W), [W, E, b('DISCONNECT')]);
  });
});

describe('protocols: Paranoid Pirate (RFC 6)', () => {
  const held = request(41, [b('client-a'), E, b('question')], 2);

  it('READY joins with one credit and no prefetch; READY again while holding a request resets it', () => {
    const e = decode([W, PPP_READY], unknown);
    assert.ok(e.kind === 'ready' && e.joining.credits === 1 && !e.joining.prefetch && e.joining.protocol === 'ppp' && !e.reset);
    const again = decode([W, PPP_READY], known(held), 'ppp');
    assert.ok(again.kind === 'ready' && again.reset);
    const idle = decode([W, PPP_READY], known(), 'ppp');
    assert.ok(idle.kind === 'ready' && !idle.reset);
  });

  it("a reply counts only with its request's address stack", () => {
    const ok = decode([W, b('client-a'), E, b('answer')], known(held), 'ppp');
    assert.ok(ok.kind === 'replies');
    assert.deepEqual(ok.replies, [{ id: 41, from: 3, to: 4 }]);
    const forged = decode([W, b('client-b'), E, b('answer')], known(held), 'ppp');
    assert.equal(forged.kind, 'malformed', 'another address');
    const deeper = decode([W, b('x'), b('client-a'), E, b('answer')], known(held), 'ppp');
    assert.equal(deeper.kind, 'malformed', 'another depth');
    assert.equal(decode([W, b('client-a'), E, b('late')], known(), 'ppp').kind, 'malformed', 'holding nothing');
    assert.equal(decode([W, b('client-a'), b('answer')], known(held), 'ppp').kind, 'malformed', 'no delimiter');
  });

  it('a heartbeat from an unknown worker gets silence (RFC 6 has no disconnect); an unknown one-byte command is malformed', () => {
    assert.deepEqual(decode([W, PPP_HEARTBEAT], unknown), { kind: 'heartbeat', disconnectUnknown: false });
    assert.equal(pirateCodec.disconnect(W), undefined);
    const e = decode([W, Buffer.from([0x07])], known(), 'ppp');
    assert.ok(e.kind === 'malformed' && e.control);
  });

  it('sends a request as a REP socket sees it, and heartbeats as one byte', () => {
    assert.deepEqual(pirateCodec.request(W, held, 0), [W, b('client-a'), E, b('question')]);
    assert.deepEqual(pirateCodec.heartbeat(W), [W, PPP_HEARTBEAT]);
  });
});

describe('protocols: Majordomo (RFC 7) and MMI (RFC 8)', () => {
  const cmd = (verb: Buffer, ...rest: Buffer[]): Buffer[] => [W, E, MDP_WORKER, verb, ...rest];

  it('READY names a service; READY twice, an empty service or mmi.* gets DISCONNECT', () => {
    const e = decode(cmd(MDP.READY, b('echo')), unknown);
    assert.ok(e.kind === 'ready' && e.service === 'echo' && e.joining.credits === 1 && !e.joining.prefetch);
    const twice = decode(cmd(MDP.READY, b('echo')), known());
    assert.ok(twice.kind === 'ignored' && twice.leave && twice.disconnect);
    const empty = decode(cmd(MDP.READY, E), unknown);
    assert.ok(empty.kind === 'malformed' && empty.disconnect);
    const mmi = decode(cmd(MDP.READY, b('mmi.service')), unknown);
    assert.ok(mmi.kind === 'ignored' && mmi.disconnect && !mmi.leave);
  });

  it('REPLY brings back the one client address (the request id); from an unknown worker it gets DISCONNECT', () => {
    const e = decode(cmd(MDP.REPLY, u32(12), E, b('pong')), known());
    assert.ok(e.kind === 'replies');
    assert.deepEqual(e.replies, [{ id: 12, from: 6, to: 7 }]);
    const stranger = decode(cmd(MDP.REPLY, u32(12), E, b('pong')), unknown);
    assert.ok(stranger.kind === 'ignored' && stranger.disconnect);
    assert.equal(decode(cmd(MDP.REPLY, b('two-frames'), b('x')), known()).kind, 'malformed');
  });

  it('DISCONNECT is a goodbye; an unknown command makes a known worker leave with DISCONNECT', () => {
    assert.deepEqual(decode(cmd(MDP.DISCONNECT), known()), { kind: 'bye' });
    const e = decode(cmd(Buffer.from([0x09])), known());
    assert.ok(e.kind === 'malformed' && e.leave && e.disconnect);
    assert.equal(decode(cmd(b('long')), known()).kind, 'malformed');
  });

  it('a request carries only the body after one address frame; the worker reads it back', () => {
    const out = majordomoCodec.request(W, request(3, [b('client'), E, b('body')], 2), 0);
    assert.deepEqual(out, [W, E, MDP_WORKER, MDP.REQUEST, u32(3), E, b('body')]);
    const m = fromMajordomoDevice(out.slice(1));
    assert.ok(m.kind === 'request');
    assert.deepEqual(m.body, [b('body')]);
    assert.deepEqual(m.envelope, [u32(3), E]);
  });

  it('a client request names its service; MMI answers 200, 404 or 501', () => {
    const frames = [b('c'), E, MDP_CLIENT, b('echo'), b('hi')];
    const r = clientRequest(frames, 2, () => false);
    assert.ok(r.kind === 'request' && r.service === 'echo');
    if (r.kind === 'request') assert.deepEqual(r.frames, [b('c'), E, b('hi')]);
    const code = (service: string, asked: string, offered: boolean): string => {
      const m = clientRequest([b('c'), E, MDP_CLIENT, b(service), b(asked)], 2, () => offered);
      return m.kind === 'mmi' ? (m.reply[m.reply.length - 1] as Buffer).toString() : m.kind;
    };
    assert.equal(code('mmi.service', 'echo', true), '200');
    assert.equal(code('mmi.service', 'echo', false), '404');
    assert.equal(code('mmi.other', 'x', true), '501');
    assert.equal(clientRequest([b('c'), E, MDP_CLIENT], 2, () => true).kind, 'malformed');
  });
});
