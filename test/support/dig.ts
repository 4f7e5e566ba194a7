/** Reads a nested field of plain JSON data by path (undefined when any step is missing): tests of generated config. */
export function dig(o: unknown, ...path: readonly (string | number)[]): unknown {
  let x = o;
  for (const k of path) {
    if (x === null || typeof x !== 'object') return undefined;
    x = (x as Record<string | number, unknown>)[k];
  }
  return x;
}
