// A message with every field optional, recursively: what ts-proto's fromPartial accepts.
type Builtin = Date | Function | Uint8Array | string | number | boolean | undefined;

export type DeepPartialEntry<T> = T extends Builtin ? T
  : T extends readonly (infer E)[] ? DeepPartialEntry<E>[]
  : T extends object ? { [K in keyof T]?: DeepPartialEntry<T[K]> }
  : Partial<T>;
