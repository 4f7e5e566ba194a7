// Waiting for a promise, at most so long: the one way the control plane bounds a wait (a worker's exit, a
// collector's shutdown, the first Kubernetes sync, a TokenReview). The timer is cleared whichever comes first, so
// a wait that finished early never holds the process open.

export type Deadlined<T> = { readonly done: true; readonly value: T } | { readonly done: false };

/**
 * `p`'s value, or `{done: false}` once `ms` have passed first; a rejection of `p` before then rejects. `unref`: the
 * timer alone does not keep the process alive (a wait at shutdown that must not hold the exit up).
 */
export async function withDeadline<T>(
  p: Promise<T>,
  ms: number,
  opts: { unref?: boolean } = {},
): Promise<Deadlined<T>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Deadlined<T>>((resolve) => {
    timer = setTimeout(() => resolve({ done: false }), ms);
    if (opts.unref) timer.unref();
  });
  try {
    return await Promise.race([p.then((value): Deadlined<T> => ({ done: true, value })), late]);
  } finally {
    clearTimeout(timer);
  }
}
