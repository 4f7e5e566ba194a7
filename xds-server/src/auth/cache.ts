// A bounded cache of token reviews. Pure (the clock is passed in). Keys are SHA-256 digests of tokens, never the
// tokens themselves. An accepted review lives until the token expires, at most `maxAgeMs` (a deleted pod's bound token
// stops being valid at the apiserver; the cap bounds how long a cached review outlives that); a refused one for
// `negativeMs` (a flood of bad tokens costs one review each per period). Past `maxEntries` the oldest entry goes.
// Failures to review (the apiserver unreachable) are never cached: they are refused, and the next call asks again.
import type { Decision, WorkloadIdentity } from './decide.js';

export interface ReviewCacheOptions {
  readonly maxEntries: number;
  readonly maxAgeMs: number;
  readonly negativeMs: number;
}

export const DEFAULT_REVIEW_CACHE: ReviewCacheOptions = {
  maxEntries: 10_000,
  maxAgeMs: 5 * 60_000,
  negativeMs: 10_000,
};

interface Entry {
  readonly decision: Decision<WorkloadIdentity>;
  readonly until: number;
}

export class ReviewCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly opts: ReviewCacheOptions = DEFAULT_REVIEW_CACHE) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string, now: number): Decision<WorkloadIdentity> | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (now >= e.until) {
      this.entries.delete(key);
      return undefined;
    }
    return e.decision;
  }

  /** Keeps a review's decision; `expiresAt` is the token's own expiry (undefined: unknown). */
  set(key: string, decision: Decision<WorkloadIdentity>, now: number, expiresAt: number | undefined): void {
    const cap = now + (decision.ok ? this.opts.maxAgeMs : this.opts.negativeMs);
    const until = decision.ok ? Math.min(cap, expiresAt ?? cap) : cap;
    if (until <= now) return;
    this.entries.delete(key);
    this.entries.set(key, { decision, until });
    while (this.entries.size > this.opts.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
