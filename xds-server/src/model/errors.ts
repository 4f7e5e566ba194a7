// Domain errors as values. Controllers return them (never HTTP errors); the API turns their kind into a status at
// the edge (api/http.ts), the CLI prints their message, a webhook would put it in its admission response.
import type { ValidationError } from './validation.js';

/**
 * invalid: the request itself is wrong (a bad mode, a malformed policy); not-found: it names something unknown;
 * conflict: it is well-formed but cannot be carried out in the current state (e.g. releasing a node not held).
 */
export type DomainErrorKind = 'invalid' | 'not-found' | 'conflict';

export interface DomainError {
  readonly kind: DomainErrorKind;
  readonly message: string;
  readonly details?: readonly ValidationError[];
}

export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: DomainError };

export function ok<T>(value: T): Outcome<T> {
  return { ok: true, value };
}

export function fail<T = never>(
  kind: DomainErrorKind,
  message: string,
  details?: readonly ValidationError[],
): Outcome<T> {
  return { ok: false, error: details ? { kind, message, details } : { kind, message } };
}
