// The L7 flag: `mode SERVICE MODE --l7` / `--no-l7` and `l7:` in an applied policy file are stored, survive a
// restart of the control plane and later mode changes, show in `policy show`, and make the tracker converge the
// service on its templates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from '../../support/harness.js';
import { tempDir } from '../../support/cli.js';
import { parsePolicyFile } from '../../../xds-server/src/policy/index.js';

const INVENTORY = {
  workloads: [{ name: 'api-1', service: 'shop/api', addresses: ['10.213.0.21'], ports: [9090] }],
  externals: [],
  vips: [],
};

test('the L7 flag is stored, survives a restart and mode changes, and an applied file can turn it off', async () => {
  const tmp = tempDir('nanoseg-l7flag-');
  try {
    const h = await Harness.open({ dir: tmp.dir });
    h.api.putInventory('lab', INVENTORY);
    const r = h.api.setMode('shop/api', 'monitor', 'test', true);
    assert.ok(r.ok);
    assert.equal(r.value.l7, true);
    const doc = h.api.policy('shop/api');
    assert.ok(doc.ok && doc.value.l7 === true);
    await h.close();

    const h2 = await Harness.open({ dir: tmp.dir });
    const again = h2.api.setMode('shop/api', 'enforce', 'test');
    assert.ok(again.ok);
    assert.equal(again.value.l7, true, 'a mode change keeps L7 on');
    const file = parsePolicyFile(
      'apiVersion: nanoseg.io/v1alpha1\nkind: Policy\nservice: shop/api\nl7: false\ningress: []\negress: []\n',
      'p.yaml',
    );
    assert.ok(file.valid);
    const applied = h2.api.applyPolicy(file.result, 'test');
    assert.ok(applied.ok && applied.value.changed);
    const off = h2.api.policy('shop/api');
    assert.ok(off.ok && off.value.l7 === undefined);
    await h2.close();
  } finally {
    tmp.remove();
  }
});
