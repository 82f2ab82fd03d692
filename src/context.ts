/**
 * The default zeromq.js context, the only one shared between worker threads
 * (so the only one over which inproc:// joins the main thread and workers).
 * Its socket limit defaults to 1023; a device with thousands of clients in
 * one process needs more.
 */
import * as zmq from 'zeromq';

export const MAX_SOCKETS = 65_535;

export function ensureSocketCapacity(): void {
  if (zmq.context.maxSockets < MAX_SOCKETS) zmq.context.maxSockets = MAX_SOCKETS;
}

ensureSocketCapacity();
