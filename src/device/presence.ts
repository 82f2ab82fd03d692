/**
 * Which clients are connected now, from libzmq's ROUTER_NOTIFY: the frontend
 * delivers `[routing id, ""]` once when a connection begins and once when it
 * ends, the same message for both, so each one toggles the id.
 */

/** Ids tracked at once; past it the record starts over (a client missing from it is then only not retried for). */
const MAX_TRACKED = 1_000_000;

export class Presence {
  private readonly connected = new Set<string>();

  /** A notice for `key`: whether its connection began or ended. */
  notice(key: string): 'joined' | 'left' {
    if (this.connected.delete(key)) return 'left';
    // A peer that sends lone empty frames can pass for connections beginning: the record is bounded.
    if (this.connected.size >= MAX_TRACKED) this.connected.clear();
    this.connected.add(key);
    return 'joined';
  }

  has(key: string): boolean {
    return this.connected.has(key);
  }
}
