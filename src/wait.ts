/** Small waiting helpers shared by the device and the server's shutdown paths. */

/** A promise with its resolver, for gates that code elsewhere opens. */
export function deferred(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/**
 * Resolves when the callback handed to `arm` is called, or after `timeoutMs`,
 * whichever comes first; the timer never outlives the wait.
 */
export function doneOrTimeout(timeoutMs: number, arm: (done: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    arm(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
