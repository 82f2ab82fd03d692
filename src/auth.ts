/**
 * Who may talk to a device: a ZAP handler (ZeroMQ RFC 27) that checks each
 * connection's CURVE public key against an allow-list and its source address
 * against CIDR ranges.
 *
 * libzmq asks the ZAP handler bound at `inproc://zeromq.zap.01` in the
 * socket's context; there can be one per context, and zeromq.js shares one
 * context across the process, so there is one handler per process, shared by
 * every device in it. Each device registers its sockets under a ZAP domain of
 * its own; requests for any other domain (sockets that are not zqueue's) are
 * allowed, as they would be with no handler at all.
 *
 * The handler is bound before a device binds its sockets: a CURVE socket that
 * accepts a connection while no handler is bound lets every key in.
 */
import './context.js';
import { BlockList, isIP } from 'node:net';
import * as zmq from 'zeromq';
import { invalidOption, isSocketClosedError } from './errors.js';
import { isZ85Key, z85Decode } from './keys.js';

const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';

/** What a domain allows; an undefined field allows anything. */
export interface AccessPolicy {
  /** Z85 public keys allowed (CURVE). */
  readonly keys?: readonly string[];
  /** Source addresses allowed: CIDR ranges or single addresses, IPv4 or IPv6. */
  readonly from?: readonly string[];
}

export type Refusal = 'key' | 'address';

interface Compiled {
  readonly keys: Set<string> | undefined;
  readonly from: BlockList | undefined;
  readonly onRefused: (why: Refusal) => void;
}

/** Checks an allow-list of keys, naming the option on a bad one. */
export function checkKeys(option: string, keys: readonly string[]): void {
  for (const k of keys) if (typeof k !== 'string' || !isZ85Key(k)) throw invalidOption(option, 'a list of 40-character Z85 public keys', k);
}

/** Parses CIDR ranges into a BlockList (used as an allow-list), naming the option on a bad one. */
export function parseCidrs(option: string, ranges: readonly string[]): BlockList {
  const list = new BlockList();
  for (const range of ranges) {
    const [addr = '', bits, extra] = String(range).split('/');
    const family = isIP(addr);
    const max = family === 6 ? 128 : 32;
    const prefix = bits === undefined ? max : Number(bits);
    if (
      family === 0 ||
      extra !== undefined ||
      !Number.isInteger(prefix) ||
      prefix < 0 ||
      prefix > max ||
      (bits !== undefined && !/^\d+$/.test(bits))
    ) {
      throw invalidOption(option, 'a list of CIDR ranges such as 127.0.0.1/32, 10.0.0.0/8 or ::1/128', range);
    }
    list.addSubnet(addr, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

function compile(policy: AccessPolicy, onRefused: (why: Refusal) => void): Compiled {
  return {
    keys: policy.keys === undefined ? undefined : new Set(policy.keys.map((k) => z85Decode(k).toString('hex'))),
    from: policy.from === undefined ? undefined : parseCidrs('allowFrom', policy.from),
    onRefused,
  };
}

function allowedAddress(list: BlockList, address: string): boolean {
  const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  const family = isIP(plain);
  return family !== 0 && list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
}

class ZapHandler {
  private readonly domains = new Map<string, Compiled>();
  private socket: zmq.Router | undefined;
  private loop: Promise<void> | undefined;
  private binding: Promise<void> | undefined;
  private closing: Promise<void> = Promise.resolve();

  /** Serves `domain` with `policy` from now on; resolves once the handler is bound. */
  async register(domain: string, policy: AccessPolicy, onRefused: (why: Refusal) => void): Promise<void> {
    this.domains.set(domain, compile(policy, onRefused));
    await this.closing;
    this.binding ??= this.bind();
    await this.binding;
  }

  update(domain: string, policy: AccessPolicy): void {
    const current = this.domains.get(domain);
    if (current !== undefined) this.domains.set(domain, compile(policy, current.onRefused));
  }

  /** Stops serving `domain`; the handler closes with the last one. */
  unregister(domain: string): Promise<void> {
    if (!this.domains.delete(domain) || this.domains.size > 0) return Promise.resolve();
    this.closing = this.close();
    return this.closing;
  }

  private async close(): Promise<void> {
    await this.binding?.catch(() => undefined);
    if (this.domains.size > 0) return; // a device registered meanwhile
    const socket = this.socket;
    const loop = this.loop;
    this.socket = undefined;
    this.loop = undefined;
    this.binding = undefined;
    if (socket !== undefined) {
      // Free the name before closing: closing alone frees it only once libzmq
      // has reaped the socket, and a device starting next would find it taken.
      await socket.unbind(ZAP_ENDPOINT).catch(() => undefined);
      socket.close();
    }
    await loop;
  }

  private async bind(): Promise<void> {
    const socket = new zmq.Router({ linger: 0 });
    try {
      await socket.bind(ZAP_ENDPOINT);
    } catch (err) {
      socket.close();
      this.binding = undefined;
      throw err;
    }
    this.socket = socket;
    this.loop = this.serve(socket);
  }

  private async serve(socket: zmq.Router): Promise<void> {
    try {
      for await (const frames of socket) {
        // [peer, "", version, request id, domain, address, identity, mechanism, credentials...]
        const [peer, , version, requestId, domain, address, , mechanism, credential] = frames;
        if (peer === undefined || requestId === undefined) continue;
        const policy = this.domains.get(domain?.toString() ?? '');
        let status = '200';
        let text = 'OK';
        if (version?.toString() !== '1.0') {
          status = '500';
          text = 'unsupported ZAP version';
        } else if (policy !== undefined) {
          const addr = address?.toString() ?? '';
          if (policy.from !== undefined && !allowedAddress(policy.from, addr)) {
            status = '400';
            text = 'address not allowed';
            policy.onRefused('address');
          } else if (
            policy.keys !== undefined &&
            (mechanism?.toString() !== 'CURVE' || credential === undefined || !policy.keys.has(credential.toString('hex')))
          ) {
            status = '400';
            text = 'key not allowed';
            policy.onRefused('key');
          }
        }
        await socket.send([peer, Buffer.alloc(0), '1.0', requestId, status, text, '', '']);
      }
    } catch (err) {
      // Closed; any other failure leaves libzmq without answers, which refuses every connection of our domains.
      if (!isSocketClosedError(err)) console.error(`zqueue: the ZAP handler stopped: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** The process's ZAP handler. */
export const zap = new ZapHandler();

let domains = 0;

/** A ZAP domain name no other device in this process uses. */
export function newDomain(label: string): string {
  return `zqueue-${process.pid}-${++domains}-${label}`;
}
