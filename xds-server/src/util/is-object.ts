// The one check that a parsed JSON value is an object (not null, not an array) before its fields are read.
export const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);
