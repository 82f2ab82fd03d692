// @ts-check
/** Echoes the request's frames back. */
/** @param {Buffer[]} request */
export default function echo(request) {
  return request;
}
