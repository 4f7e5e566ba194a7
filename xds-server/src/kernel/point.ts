// The kernel enforcement point: the desired kernel rules (generate/kernel.ts, from the same compiled policies the
// sidecars get) applied as ONE `nft -f` transaction each time, like kube-proxy's nftables proxier: level-triggered
// (told that something changed, it works out the whole desired state), the first apply and one every
// `fullResyncMs` the whole ruleset, the ones between only what differs from the rules in force
// (generate/kernel-update.ts), bursts merged (changes while an apply runs become one more apply), full resync after
// any failure (retried with the whole text), the last good rules kept when an update fails (nft applies all or
// nothing; status and metrics say so). Stopping leaves the rules in force: the control
// plane dying never opens what was closed. Hosted by the control plane for the lab (`serve --kernel-netns NS`), by
// a node agent per node later: the point only needs the desired text and a place to apply it.
import { renderRuleset, type KernelRules } from '../generate/kernel.js';
import { rulesetUpdate } from '../generate/kernel-update.js';
import type { EnforcementPoint, ServiceName } from '../model/index.js';
import type { Logger } from '../util/logger.js';
import { nftApply, type NftResult } from './nft.js';

export interface KernelPointHooks {
  applied?(ms: number, bytes: number): void;
  failed?(): void;
  state?(failed: boolean): void;
}

export interface KernelPointOptions {
  /** network namespace the rules go to (the lab's host namespace); undefined: the current one */
  readonly netns?: string;
  /** the whole desired rules now */
  readonly desired: () => KernelRules;
  readonly logger: Logger;
  /** how to apply (default `nft -f -` in `netns`) */
  readonly apply?: (text: string) => Promise<NftResult>;
  /** retry after a failed apply (default 1 s) */
  readonly retryMs?: number;
  /** an update older than this after the last full apply is a full apply again (default 5 min) */
  readonly fullResyncMs?: number;
  readonly hooks?: KernelPointHooks;
}

export interface KernelStatus {
  readonly namespace?: string;
  /**
   * pending: nothing applied yet; ok: the desired rules are in force; failed: the last update failed, so the last
   * good rules (`applies` > 0) — or none, before the first success — are in force, and it is retried every second
   */
  readonly state: 'pending' | 'ok' | 'failed';
  readonly applies: number;
  readonly failures: number;
  readonly lastAppliedAt?: number;
  readonly lastApplyMs?: number;
  /** what the last successful apply was: the whole ruleset, or an update of what differed */
  readonly lastApply?: 'full' | 'update';
  /** size of the rules in force, as full `nft -f` text */
  readonly rulesBytes: number;
  readonly error?: string;
  readonly errorAt?: number;
}

export class KernelEnforcementPoint implements EnforcementPoint {
  readonly name = 'kernel' as const;
  private dirty = false;
  private running = false;
  private stopped = true;
  private retry?: NodeJS.Timeout;
  private lastGood?: { readonly rules: KernelRules; readonly text: string; readonly fullAt: number };
  private st: { -readonly [K in keyof KernelStatus]: KernelStatus[K] };
  private idle: (() => void)[] = [];

  constructor(private readonly opts: KernelPointOptions) {
    this.st = {
      ...(opts.netns !== undefined && { namespace: opts.netns }),
      state: 'pending',
      applies: 0,
      failures: 0,
      rulesBytes: 0,
    };
  }

  /** Applies the desired state now and on every change. Idempotent. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.changed('start');
  }

  /** Stops applying; the rules in force stay. Idempotent. */
  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
  }

  changed(_reason: string, _services?: readonly ServiceName[]): void {
    this.dirty = true;
    if (this.running || this.stopped) return;
    this.running = true;
    setImmediate(() => void this.loop());
  }

  status(): KernelStatus {
    return { ...this.st };
  }

  /** Resolves once nothing is pending (every change so far applied, or failed). */
  settled(): Promise<void> {
    if (!this.running && !this.dirty) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private async loop(): Promise<void> {
    try {
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        const rules = this.opts.desired();
        const full = renderRuleset(rules);
        const good = this.st.state === 'ok' ? this.lastGood : undefined;
        if (full === good?.text) continue;
        const fresh = good !== undefined && performance.now() - good.fullAt < (this.opts.fullResyncMs ?? 300_000);
        // an update longer than the whole ruleset (most of a large set gone) is applied as the whole ruleset
        const delta = fresh ? rulesetUpdate(good.rules, rules) : undefined;
        const update = delta !== undefined && delta.length < full.length ? delta : undefined;
        const text = update ?? full;
        const t0 = performance.now();
        const r = update === '' ? { code: 0, stderr: '' } : await (this.opts.apply ?? this.nft)(text);
        const ms = performance.now() - t0;
        if (r.code === 0) {
          const recovered = this.st.state === 'failed';
          this.lastGood = { rules, text: full, fullAt: update === undefined ? t0 : good!.fullAt };
          this.st = {
            ...this.st,
            state: 'ok',
            applies: this.st.applies + 1,
            lastAppliedAt: Date.now(),
            lastApplyMs: ms,
            lastApply: update === undefined ? 'full' : 'update',
            rulesBytes: full.length,
          };
          delete this.st.error;
          delete this.st.errorAt;
          this.opts.hooks?.applied?.(ms, text.length);
          this.opts.hooks?.state?.(false);
          if (recovered) this.opts.logger.info({ netns: this.opts.netns }, 'kernel rules in force again');
        } else {
          const error = r.stderr.trim().split('\n').slice(0, 3).join(' | ') || `nft exited ${r.code}`;
          if (this.st.state !== 'failed' || this.st.error !== error)
            this.opts.logger.error(
              { netns: this.opts.netns, error },
              'kernel rules update failed; the last good rules stay in force',
            );
          this.st = { ...this.st, state: 'failed', failures: this.st.failures + 1, error, errorAt: Date.now() };
          this.opts.hooks?.failed?.();
          this.opts.hooks?.state?.(true);
          this.scheduleRetry();
        }
      }
    } finally {
      this.running = false;
      if (this.dirty && !this.stopped) this.changed('merged');
      else for (const f of this.idle.splice(0)) f();
    }
  }

  private readonly nft = (text: string) => nftApply(this.opts.netns, text);

  private scheduleRetry(): void {
    if (this.retry || this.stopped) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.changed('retry after a failed kernel update (full resync)');
    }, this.opts.retryMs ?? 1000);
    this.retry.unref();
  }
}
