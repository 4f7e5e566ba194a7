// The store's crash contract with a real process: a writer child is killed with SIGKILL mid-write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { projectRoot } from '../../xds-server/src/util/envoy.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { DB_FILE, Store } from '../../xds-server/src/store/index.js';

import { edgeId } from '../../xds-server/src/model/index.js';

// the source tree (also when this test runs compiled from dist/): the writer child runs the .ts sources with tsx
const ROOT = projectRoot();

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'nanoseg-store-'));
}

test('kill -9 while writing: every edge committed before the kill is there and the database is intact', async () => {
  const dir = tmp();
  try {
    const storeUrl = pathToFileURL(join(ROOT, 'xds-server/src/store/index.ts')).href;
    const modelUrl = pathToFileURL(join(ROOT, 'xds-server/src/model/index.ts')).href;
    // The writer does what the serve layer will do: each new edge written at once, evidence updates batched.
    const child = `
      import { Store } from ${JSON.stringify(storeUrl)};
      import { edgeId } from ${JSON.stringify(modelUrl)};
      const s = Store.open(${JSON.stringify(dir)});
      const edges = [];
      for (let i = 0; ; i++) {
        const k = { source: { service: 'shop/web' }, destination: { cidr: '198.51.' + (i >> 8) + '.' + (i & 255) + '/32' }, protocol: 'tcp', port: 443 };
        const e = { ...k, id: edgeId(k), evidence: { firstSeen: i, lastSeen: i, count: 1, bytesSent: 0, bytesReceived: 0, exampleWorkloads: [] } };
        edges.push(e);
        s.upsertEdges([e]);
        process.stdout.write(i + '\\n');
        if (i % 50 === 49) {
          for (const x of edges) x.evidence.count++;
          s.upsertEdges(edges);
        }
      }
    `;
    const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let confirmed = -1;
    let buf = '';
    const exited = new Promise<NodeJS.Signals | null>((res) => proc.on('exit', (_code, sig) => res(sig)));
    proc.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) confirmed = Number(l);
      if (confirmed >= 500 && !proc.killed) proc.kill('SIGKILL');
    });
    const timer = setTimeout(() => proc.kill('SIGKILL'), 120_000);
    const signal = await exited;
    clearTimeout(timer);
    assert.equal(signal, 'SIGKILL', `writer did not die by SIGKILL: ${stderr}`);
    assert.ok(confirmed >= 500, `writer only confirmed ${confirmed} edges: ${stderr}`);

    const s = Store.open(dir); // runs quick_check: throws if damaged
    const ids = new Set(s.loadEdges().map((e) => e.id));
    for (let i = 0; i <= confirmed; i++) {
      const k = {
        source: { service: 'shop/web' },
        destination: { cidr: `198.51.${i >> 8}.${i & 255}/32` },
        protocol: 'tcp' as const,
        port: 443,
      };
      assert.ok(ids.has(edgeId(k)), `edge ${i} (confirmed before the kill) is missing`);
    }
    s.close();
    const db = new Database(join(dir, DB_FILE), { readonly: true });
    assert.deepEqual(db.pragma('integrity_check'), [{ integrity_check: 'ok' }]);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
