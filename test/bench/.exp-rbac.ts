import { BenchLab, sleep } from './lab.js';
const lab = await BenchLab.start('nanoseg-bench-exp-', ['--min-observations', '10']);
try {
  let t = Date.now();
  lab.up('exp', [
    { name: 'rc-client', service: 'bench/client', address: '10.213.0.5' },
    { name: 'rc-server', service: 'bench/server', address: '10.213.0.10', ports: [8080], run: [`exec node ${lab.serverJs} 8080`] },
    { name: 'rc-dclient', address: '203.0.113.50' },
    { name: 'rc-dserver', address: '203.0.113.51', run: [`exec node ${lab.serverJs} 8080`] },
  ]);
  console.log('lab up ms', Date.now() - t);
  await lab.settled(2);
  await sleep(500);
  for (const rate of [200, 500, 1000, 2000]) {
    const r = await lab.load('rc-client', { mode: 'open', url: 'http://server.bench:8080/', rate, seconds: 4, warmup: 1, conns: 16 });
    console.log('sidecar', rate, JSON.stringify(r));
    const d = await lab.load('rc-dclient', { mode: 'open', url: 'http://203.0.113.51:8080/', rate, seconds: 4, warmup: 1, conns: 16 });
    console.log('direct', rate, JSON.stringify(d));
  }
  for (const c of [4, 16, 64]) {
    console.log('wrk sidecar', c, JSON.stringify(await lab.wrk('rc-client', 'http://server.bench:8080/', c, 3)));
    console.log('closed sidecar', c, JSON.stringify(await lab.load('rc-client', { mode: 'closed', url: 'http://server.bench:8080/', conns: c, seconds: 3, warmup: 1 })));
  }
  console.log('wrk direct', JSON.stringify(await lab.wrk('rc-dclient', 'http://203.0.113.51:8080/', 16, 3)));
  console.log(JSON.stringify(await lab.api.call('GET', '/v1/services')));
} finally {
  await lab.close();
}
