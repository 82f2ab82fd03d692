/**
 * The intake checks every counting engine applies to a client's message, in
 * one place: an envelope, at most maxFrames frames, and a device that is not
 * shutting down.
 */
import { delimiterIndex, type ErrorKind } from '../protocol.js';

export type Admission =
  | { readonly ok: true; /** Where the body starts: frames[0 .. bodyAt) is the envelope, delimiter included. */ readonly bodyAt: number }
  | {
      readonly ok: false;
      /** none: no envelope, nowhere to reply (drop and count as malformed). */ readonly kind: ErrorKind | 'malformed';
      readonly message: string;
    };

export interface AdmitRules {
  readonly maxFrames: number;
  readonly stopping: () => boolean;
}

const MALFORMED: Admission = { ok: false, kind: 'malformed', message: 'no envelope delimiter' };

export function admit(frames: readonly Buffer[], rules: AdmitRules): Admission {
  const d = delimiterIndex(frames);
  if (d < 0) return MALFORMED;
  if (frames.length > rules.maxFrames) return { ok: false, kind: 'bad-request', message: `more than ${rules.maxFrames} frames` };
  if (rules.stopping()) return { ok: false, kind: 'closing', message: 'the device is shutting down' };
  return { ok: true, bodyAt: d + 1 };
}
