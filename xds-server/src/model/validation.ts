/** A validation outcome as a value: callers turn errors into NACK details, CLI messages or API responses. */
export type ValidationResult<T> =
  { readonly valid: true; readonly result: T } | { readonly valid: false; readonly errors: readonly ValidationError[] };

/** `path` names the offending field or object, e.g. `CDS/shop-web.deps[0]`. */
export interface ValidationError {
  readonly path: string;
  readonly message: string;
  /** 1-based position in the source file, when the input came from one */
  readonly line?: number;
  readonly col?: number;
}
