// @ts-check
/**
 * CPU-bound: hashes the request over and over for about ZQ_CPU_ROUNDS rounds
 * (default 600, about 1 ms on a 2020s server core), then answers the hex digest.
 */
import { createHash } from 'node:crypto';

const rounds = Number(process.env.ZQ_CPU_ROUNDS ?? 600);

/** @param {Buffer[]} request */
export default function cpu(request) {
  let digest = Buffer.concat(request);
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest();
  return digest.toString('hex');
}
