/**
 * A device's security: CURVE on either side, and the ZAP domains that hold
 * its allow-lists (client keys and source ranges on the frontend, server keys
 * on the backend), with what they refused.
 */
import type * as zmq from 'zeromq';
import { ErrorCode, ZqueueError } from '../errors.js';
import { checkKeys, newDomain, parseCidrs, zap, type AccessPolicy, type Refusal } from '../auth.js';
import type { ResolvedDeviceOptions } from '../options.js';

export type Side = 'frontend' | 'backend';

/** How each side is secured, and what was refused. */
export interface SecurityStats {
  readonly frontend: 'curve' | 'null';
  readonly backend: 'curve' | 'null';
  /**
   * Connections refused: a key not on the allow-list, a source address outside allowFrom, a failed handshake (no key, wrong server key,
   * garbage).
   */
  readonly refused: Readonly<{ key: number; address: number; handshake: number }>;
}

export class DeviceSecurity {
  readonly refused = { key: 0, address: 0, handshake: 0 };
  private readonly domains: { frontend?: string; backend?: string } = {};
  /** The frontend's allow-lists now (setAllowList replaces them). */
  private lists: { keys: readonly string[] | null; from: readonly string[] | null };

  constructor(
    private readonly o: ResolvedDeviceOptions,
    private readonly onRefused: (side: Side, why: Refusal | 'handshake') => void,
  ) {
    this.lists = { keys: o.allowKeys, from: o.allowFrom };
  }

  /** Starts the ZAP domains: they must be serving before a socket that relies on them binds. */
  async register(): Promise<void> {
    const o = this.o;
    const refused =
      (side: Side) =>
      (why: Refusal): void => {
        this.refused[why]++;
        this.onRefused(side, why);
      };
    if (o.allowKeys !== null || o.allowFrom !== null) {
      this.domains.frontend = newDomain('frontend');
      await zap.register(this.domains.frontend, policyOf(o.allowKeys, o.allowFrom), refused('frontend'));
    }
    if (o.allowServerKeys !== null) {
      this.domains.backend = newDomain('backend');
      await zap.register(this.domains.backend, policyOf(o.allowServerKeys, null), refused('backend'));
    }
  }

  /** A handshake failed on a side (counted here; ZAP refusals count themselves). */
  handshakeFailed(side: Side): void {
    this.refused.handshake++;
    this.onRefused(side, 'handshake');
  }

  /** CURVE server options for a side's socket, and its ZAP domain when an allow-list applies. */
  socketOptions(side: Side): Partial<zmq.SocketOptions<zmq.Router>> {
    const secretKey = side === 'frontend' ? this.o.curveSecretKey : this.o.backendCurveSecretKey;
    const domain = this.domains[side];
    return {
      ...(secretKey !== '' ? { curveServer: true, curveSecretKey: secretKey } : {}),
      ...(domain !== undefined ? { zapDomain: domain } : {}),
    };
  }

  /**
   * Replaces the allow-lists (for a reload on SIGHUP): `keys` of clients,
   * `from` source ranges, `serverKeys` of servers. Only lists the device was
   * started with can be replaced; a bad entry throws and changes nothing.
   */
  setAllowList(lists: { keys?: readonly string[]; from?: readonly string[]; serverKeys?: readonly string[] }): void {
    const o = this.o;
    if (lists.keys !== undefined) checkKeys('allowKeys', lists.keys);
    if (lists.serverKeys !== undefined) checkKeys('allowServerKeys', lists.serverKeys);
    if (lists.from !== undefined) parseCidrs('allowFrom', lists.from);
    if ((lists.keys !== undefined && o.allowKeys === null) || (lists.from !== undefined && o.allowFrom === null)) {
      throw new ZqueueError(ErrorCode.InvalidOption, 'the device was started without that allow-list (set allowKeys / allowFrom at start)');
    }
    if (lists.serverKeys !== undefined && this.domains.backend === undefined) {
      throw new ZqueueError(ErrorCode.InvalidOption, 'the device was started without allowServerKeys');
    }
    if (this.domains.frontend !== undefined && (lists.keys !== undefined || lists.from !== undefined)) {
      this.lists = { keys: lists.keys ?? this.lists.keys, from: lists.from ?? this.lists.from };
      zap.update(this.domains.frontend, policyOf(this.lists.keys, this.lists.from));
    }
    if (this.domains.backend !== undefined && lists.serverKeys !== undefined)
      zap.update(this.domains.backend, policyOf(lists.serverKeys, null));
  }

  stats(): SecurityStats {
    return {
      frontend: this.o.curveSecretKey === '' ? 'null' : 'curve',
      backend: this.o.backendCurveSecretKey === '' ? 'null' : 'curve',
      refused: { ...this.refused },
    };
  }

  async unregister(): Promise<void> {
    if (this.domains.frontend !== undefined) await zap.unregister(this.domains.frontend);
    if (this.domains.backend !== undefined) await zap.unregister(this.domains.backend);
  }
}

function policyOf(keys: readonly string[] | null, from: readonly string[] | null): AccessPolicy {
  return { ...(keys !== null ? { keys } : {}), ...(from !== null ? { from } : {}) };
}
