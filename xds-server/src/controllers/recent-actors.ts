// Who asked for a change that is applied later, when an informer sees it (a validating webhook admitted it, for
// the audit's actor): key → actor, kept for a while, bounded. Pure state with the time passed in.

/** How long a webhook's "who asked" is kept for the change to show up. */
export const RECENT_ACTOR_TTL_MS = 10 * 60_000;
const MAX_KEYS = 10_000;

export class RecentActors {
  private readonly byKey = new Map<string, { actor: string; at: number }>();

  constructor(private readonly ttlMs = RECENT_ACTOR_TTL_MS) {}

  remember(key: string, actor: string, now: number): void {
    this.byKey.delete(key); // the newest goes last: the first key is the oldest
    this.byKey.set(key, { actor, at: now });
    if (this.byKey.size > MAX_KEYS) this.byKey.delete(this.byKey.keys().next().value!);
  }

  /** The actor remembered for `key` within the TTL, forgotten once taken. */
  take(key: string, now: number): string | undefined {
    const a = this.byKey.get(key);
    if (a === undefined) return undefined;
    this.byKey.delete(key);
    return now - a.at < this.ttlMs ? a.actor : undefined;
  }
}
