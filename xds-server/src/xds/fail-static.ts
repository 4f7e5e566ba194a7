// Fail-static: whether a connecting sidecar runs config this control plane produced. Every version this control
// plane serves carries its store's id (xds/types.ts `prefixed`), so a sidecar reconnecting with versions that carry
// another id — or none — runs config this control plane cannot account for (its state was lost, or another control
// plane configured it): pushing ours could open what it keeps closed, so it is held until a person releases it.
// A fresh sidecar (no versions) and one running our own config are served. Pure.
import { versionPrefixOf } from './types.js';

/** Why a sidecar reporting `versions` must be held, or undefined when it may be configured. */
export function holdReason(versions: readonly string[], ours: string): string | undefined {
  const foreign = [...new Set(versions.map(versionPrefixOf).filter((p) => p !== ours))];
  if (foreign.length === 0) return undefined;
  const whose = foreign
    .map((p) => (p === '' ? 'carries no control-plane id' : `was made by control plane ${p}`))
    .join(', ');
  return (
    `sidecar runs config this control plane (${ours}) did not produce (it ${whose}: state dir lost or ` +
    'another control plane); keeping its config — `nanoseg release` to take over'
  );
}
