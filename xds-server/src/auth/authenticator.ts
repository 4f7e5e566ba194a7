// Token authentication of sidecars: the token of a call → TokenReview (cached, cache.ts) → the pod it names
// (decide.ts). Never fails open: a review that errors, times out or answers anything but an authenticated,
// pod-bound token for our audience refuses the call. Concurrent calls with one token share one review.
import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { ReviewCache, DEFAULT_REVIEW_CACHE, type ReviewCacheOptions } from './cache.js';
import { withDeadline } from '../util/deadline.js';
import {
  TOKEN_AUDIENCE,
  bearerToken,
  identityFromReview,
  tokenExpiry,
  type Decision,
  type Refusal,
  type TokenReviewStatus,
  type WorkloadIdentity,
} from './decide.js';

/** The apiserver's TokenReview (the seam: tests may answer it with an HTTP server of their own). */
export interface TokenReviewer {
  /** Throws when the review could not be made. */
  review(token: string, audiences: readonly string[]): Promise<TokenReviewStatus>;
}

/** TokenReview through the cluster's API (RBAC: create tokenreviews). */
export async function kubeTokenReviewer(kc: KubeConfig): Promise<TokenReviewer> {
  const { AuthenticationV1Api } = await import('@kubernetes/client-node');
  const api = kc.makeApiClient(AuthenticationV1Api);
  return {
    review: async (token, audiences) => {
      const r = await api.createTokenReview({
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, audiences: [...audiences] },
        },
      });
      return (r.status ?? {}) as TokenReviewStatus;
    },
  };
}

export interface AuthenticatorOptions {
  readonly reviewer: TokenReviewer;
  readonly audience?: string;
  readonly cache?: ReviewCacheOptions;
  /** longest a review may take before the call is refused (default 5 s) */
  readonly timeoutMs?: number;
  readonly now?: () => number;
  /** every refusal, for metrics */
  readonly onRefused?: (reason: Refusal) => void;
}

export interface AuthenticatorStats {
  reviews: number;
  cacheHits: number;
  reviewFailures: number;
}

export class TokenAuthenticator {
  private readonly cache: ReviewCache;
  private readonly inflight = new Map<string, Promise<Decision<WorkloadIdentity>>>();
  private readonly now: () => number;
  private readonly audience: string;
  readonly stats: AuthenticatorStats = { reviews: 0, cacheHits: 0, reviewFailures: 0 };

  constructor(private readonly opts: AuthenticatorOptions) {
    this.cache = new ReviewCache(opts.cache ?? DEFAULT_REVIEW_CACHE);
    this.now = opts.now ?? Date.now;
    this.audience = opts.audience ?? TOKEN_AUDIENCE;
  }

  get cached(): number {
    return this.cache.size;
  }

  /** The pod an `authorization` header's token stands for, or why not. Never rejects. */
  async authenticate(header: string | undefined): Promise<Decision<WorkloadIdentity>> {
    const d = await this.decide(header);
    if (!d.ok) this.opts.onRefused?.(d.reason);
    return d;
  }

  private async decide(header: string | undefined): Promise<Decision<WorkloadIdentity>> {
    const t = bearerToken(header);
    if (!t.ok) return t;
    const token = t.value;
    const key = createHash('sha256').update(token).digest('hex');
    const hit = this.cache.get(key, this.now());
    if (hit) {
      this.stats.cacheHits++;
      return hit;
    }
    let p = this.inflight.get(key);
    if (!p) {
      p = this.review(token, key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async review(token: string, key: string): Promise<Decision<WorkloadIdentity>> {
    this.stats.reviews++;
    let status: TokenReviewStatus;
    const ms = this.opts.timeoutMs ?? 5000;
    try {
      const r = await withDeadline(this.opts.reviewer.review(token, [this.audience]), ms);
      if (!r.done) throw new Error(`no answer within ${ms} ms`);
      status = r.value;
    } catch (e) {
      this.stats.reviewFailures++;
      return { ok: false, reason: 'review-failed', detail: `TokenReview failed: ${(e as Error).message}` };
    }
    const d = identityFromReview(status, this.audience);
    this.cache.set(key, d, this.now(), tokenExpiry(token));
    return d;
  }
}
