#!/usr/bin/env node
// Writes manifests/base/crd-nanosegment.yaml from the schema in xds-server/src/inventory/kubernetes/crd.ts (built
// into dist/ first: `npm run -s build && node scripts/gen-crd.mjs`). test/unit/manifests/manifests.test.ts fails
// when the committed file differs from what this writes.
import { writeFileSync } from 'node:fs';
import { crdYaml, CRD_FILE } from '../dist/xds-server/src/inventory/kubernetes/crd-yaml.js';

writeFileSync(CRD_FILE, crdYaml());
console.log(`wrote ${CRD_FILE}`);
