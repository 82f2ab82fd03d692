/**
 * A server's side of the heartbeat with a least-busy device (Paranoid Pirate
 * style): when it last heard from the device, whether the device heartbeats
 * at all, and the back-off between reconnects. Free of sockets and timers.
 */
export class DeviceWatch {
  private lastHeard: number;
  private beats = false;
  private backoff = 0;
  /** Anything came from the device on the current socket. */
  private heardSince = false;

  constructor(
    private readonly periodMs: number,
    now: number,
  ) {
    this.lastHeard = now;
  }

  /** Anything came from the device. */
  heard(now: number): void {
    this.lastHeard = now;
    this.backoff = 0;
    this.heardSince = true;
  }

  /** Whether the device has said anything on the current socket (a least-busy device answers READY with a heartbeat). */
  get answered(): boolean {
    return this.heardSince;
  }

  /** The device sent a heartbeat: from now on its silence means it is gone. */
  deviceHeartbeats(): void {
    this.beats = true;
  }

  /**
   * Once a period. `busy`: every slot is taken, so the server reads nothing,
   * heartbeats included, and silence proves nothing. True: the device has
   * been silent for 3 periods, reconnect.
   */
  silent(now: number, busy: boolean): boolean {
    if (busy) this.lastHeard = now;
    return this.beats && now - this.lastHeard > 3 * this.periodMs;
  }

  /** How long to wait before this reconnect; the next waits twice as long, up to 32 periods. */
  nextWait(): number {
    const wait = this.backoff;
    this.backoff = Math.min(Math.max(this.periodMs, this.backoff * 2), 32 * this.periodMs);
    return wait;
  }

  /** The device asked this server to reconnect: at once. */
  resetBackoff(): void {
    this.backoff = 0;
  }

  /** A fresh socket: the new device has not heartbeated yet. */
  restart(now: number): void {
    this.beats = false;
    this.lastHeard = now;
    this.heardSince = false;
  }
}
