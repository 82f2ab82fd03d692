/**
 * A device's two sockets: their options (by engine), binding them (with a
 * clear error), the ipc files they leave, and the peer observer that counts
 * connections and failed handshakes.
 *
 * A frontend that reports its connections (ROUTER_NOTIFY: least-busy,
 * adaptive) has no observer. In a connection flood past the process's
 * descriptors, libzmq retries the failed accept as fast as its I/O thread
 * spins and reports every failure to the observer; reading those reports
 * took the main thread, and connected clients waited 2-3 s for a reply
 * (32-36 ms without it). Its clients are counted from the notices instead
 * (after their handshake), a probe each second counts descriptor
 * exhaustion, and its failed handshakes go uncounted, unless the
 * `countHandshakes` option asks for the observer anyway.
 */
import * as zmq from 'zeromq';
import { bindOrExplain, connectUrlFor, sameEndpoint } from '../endpoints.js';
import { closeSync, openSync } from 'node:fs';
import { zmqCode } from '../errors.js';
import { watchEvents } from '../writer.js';
import type { ResolvedDeviceOptions } from '../options.js';
import type { DeviceSecurity, Side } from './security.js';

export type EngineKind = 'native' | 'relay' | 'balanced';

export interface SocketEvents {
  peer(side: Side, count: number): void;
  /** libzmq could not accept a connection (`code`: EMFILE when the process is out of descriptors). */
  acceptFailed(side: Side, code: string): void;
}

/** libzmq's ZMQ_ROUTER_NOTIFY, which zeromq.js has no property for. */
const ZMQ_ROUTER_NOTIFY = 97;
const NOTIFY_CONNECT_AND_DISCONNECT = 3;

/** The frontend's ZAP domain where no allow-list sets one (see the constructor). */
export const FRONTEND_ZAP_DOMAIN = 'zqueue-frontend';

export class DeviceSockets {
  readonly frontend: zmq.Router;
  readonly backend: zmq.Dealer | zmq.Router;
  /** One ROUTER for clients and workers (the same endpoint on both sides, balanced engine only). */
  readonly shared: boolean;
  /** The frontend reports each connection's start and end as `[routing id, ""]` (ROUTER_NOTIFY). */
  readonly notifies: boolean;
  readonly peers = { frontend: 0, backend: 0 };
  /** Connections libzmq failed to accept, per side (out of descriptors, most often). */
  readonly acceptFailures = { frontend: 0, backend: 0 };
  private readonly watchers: Promise<void>[] = [];
  /** Without a frontend observer: the probe that finds the process out of descriptors. */
  private probe: NodeJS.Timeout | undefined;
  /** Remove the ipc socket files the device bound, once its sockets are closed. */
  private unlinks: (() => void)[] = [];
  private bound = { frontend: '', backend: '' };

  constructor(
    private readonly o: ResolvedDeviceOptions,
    kind: EngineKind,
    private readonly security: DeviceSecurity,
    private readonly events: SocketEvents,
  ) {
    const common = {
      linger: 0,
      backlog: o.backlog,
      sendHighWaterMark: o.highWaterMark,
      receiveHighWaterMark: o.highWaterMark,
      handshakeInterval: o.handshakeTimeoutMs,
    };
    // Counting engines: ROUTER_MANDATORY and a zero send timeout turn the ROUTER's silent
    // drops (a client gone, or too slow to take its reply) into errors the
    // device counts, without ever waiting. (libzmq's proxy stops on such an error: not for native.)
    const counted = kind === 'native' ? {} : { mandatory: true, sendTimeout: 0 };
    // A ZAP domain makes libzmq refuse ZMTP/1.0 peers (libzmq 2.x's protocol): such a connection gets
    // no ROUTER_NOTIFY connect notice, only a disconnect one, which the peer count took for a join, and
    // garbage that parses as a 1.0 greeting inflated it. Any ZAP handler in the process (src/auth.ts)
    // lets an unregistered domain through; with none bound, nothing is asked.
    const refuseV1 = { zapDomain: FRONTEND_ZAP_DOMAIN };
    this.shared = sameEndpoint(o.frontend, o.backend) && kind === 'balanced';
    // Shared: a worker that reconnects under its routing id takes it over, as on a backend.
    this.frontend = new zmq.Router({
      ...common,
      ...counted,
      maxMessageSize: o.maxMessageSize,
      ...refuseV1,
      ...security.socketOptions('frontend'),
      ...(this.shared ? { handover: true } : {}),
    });
    const backendOptions = { ...common, ...security.socketOptions('backend') };
    // balanced: a server that reconnects under the same routing id takes it over (its old
    // connection may not be gone yet). Its ROUTER never waits to send (without ROUTER_MANDATORY
    // it drops what a full peer cannot take, and credits keep every worker's share far below the
    // high-water mark): a zero send timeout spares zeromq.js's readiness check, a system call, on every send.
    this.backend = this.shared
      ? this.frontend
      : kind === 'balanced'
        ? new zmq.Router({ ...backendOptions, handover: true, sendTimeout: 0 })
        : new zmq.Dealer(backendOptions);
    // least-busy, adaptive: each client connection's start and end arrive as `[routing id, ""]`, so
    // that the requests of a client that left never reach a worker (src/device/scheduling/overload.ts). Not over
    // inproc, where libzmq reports no connection's start (measured with zeromq.js 6.8).
    this.notifies = kind === 'balanced' && o.overloadPolicy === 'adaptive' && !o.frontend.startsWith('inproc://');
    if (this.notifies) {
      // setInt32Option is protected in zeromq.js's types, but it is the documented way to reach an option without a property.
      (this.frontend as unknown as { setInt32Option(option: number, value: number): void }).setInt32Option(
        ZMQ_ROUTER_NOTIFY,
        NOTIFY_CONNECT_AND_DISCONNECT,
      );
    }
    // Subscribe before binding, so that no early connection goes uncounted.
    if (this.notifies && !o.countHandshakes) this.probeDescriptors();
    else this.observe(this.frontend, 'frontend', o.frontend);
    if (!this.shared) this.observe(this.backend, 'backend', o.backend);
  }

  /** Binds both sides; on a failure closes both, cleans up and rethrows (a ZqueueError saying what is wrong). */
  async bind(): Promise<void> {
    try {
      this.unlinks.push(await bindOrExplain(this.frontend, this.o.frontend, 'frontend', this.o.ipcMode));
      if (!this.shared) this.unlinks.push(await bindOrExplain(this.backend, this.o.backend, 'backend', this.o.ipcMode));
    } catch (err) {
      this.close();
      await this.closed();
      throw err;
    }
    this.bound = { frontend: this.frontend.lastEndpoint ?? this.o.frontend, backend: this.backend.lastEndpoint ?? this.o.backend };
  }

  /** As bound (tcp port `*` resolved); '' before. */
  endpoint(side: Side): string {
    return this.bound[side];
  }

  /** A URL that connects to the backend as bound. */
  backendUrl(): string {
    return connectUrlFor(this.bound.backend);
  }

  /** A frontend connection began (+1) or ended (-1), as ROUTER_NOTIFY reported it (no observer counts them then). */
  notePeer(side: Side, delta: 1 | -1): void {
    if (side === 'frontend' && this.probe === undefined) return; // the observer counts them
    this.peers[side] = Math.max(0, this.peers[side] + delta);
    this.events.peer(side, this.peers[side]);
  }

  /** Once a second, whether the process can open a descriptor: a second without one counts as a failed accept (EMFILE). */
  private probeDescriptors(): void {
    this.probe = setInterval(() => {
      try {
        closeSync(openSync('/dev/null', 'r'));
      } catch (err) {
        const code = zmqCode(err) ?? 'unknown';
        if (code === 'EMFILE' || code === 'ENFILE') {
          this.acceptFailures.frontend++;
          this.events.acceptFailed('frontend', code);
        }
      }
    }, 1000);
    this.probe.unref();
  }

  close(): void {
    clearInterval(this.probe);
    this.frontend.close();
    if (!this.shared) this.backend.close();
  }

  /** After close(): removes the ipc files and waits for the observers to close (a thread must not end before). */
  async closed(): Promise<void> {
    for (const unlink of this.unlinks) unlink();
    this.unlinks = [];
    await Promise.all(this.watchers);
  }

  private observe(socket: zmq.Socket, side: Side, endpoint: string): void {
    if (endpoint.startsWith('inproc://')) return;
    this.watchers.push(
      watchEvents(socket, (event) => {
        if (event.type === 'accept') this.events.peer(side, ++this.peers[side]);
        else if (event.type === 'disconnect') this.events.peer(side, --this.peers[side]);
        else if (event.type === 'accept:error') {
          this.acceptFailures[side]++;
          this.events.acceptFailed(side, event.error.code);
        }
        // handshake:error:auth is a ZAP refusal, already counted by kind.
        else if (event.type === 'handshake:error:protocol' || event.type === 'handshake:error:other') this.security.handshakeFailed(side);
      }),
    );
  }
}
