// A/B on a shared, noisy machine: the throughput or latency-bound job of run.mjs, run by two (or more) builds of
// evalrun alternately (order flipped every round) against one simulator, so machine load hits them alike; medians.
//   BUILDS=before=/path/to/old/checkout,after=. node test/bench/ab.mjs throughput|latency ROUNDS
// Each path is a checkout with a built dist/ (npm run build). ROWS overrides the job's size.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const { startSimulator } = await import(join(ROOT, 'dist/simulator/index.js'));
const [scenario = 'throughput', roundsArg = '3'] = process.argv.slice(2);
const rounds = Number(roundsArg);
if (!process.env.BUILDS) throw new Error('set BUILDS=name=checkout,name=checkout (see the top of this file)');
const builds = Object.fromEntries(process.env.BUILDS.split(',').map((kv) => { const [k, v] = kv.split('='); return [k, join(resolve(v), 'dist/bin.js')]; }));
const work = mkdtempSync(join(tmpdir(), 'evalrun-ab-'));
const rows = Number(process.env.ROWS ?? (scenario === 'throughput' ? 5000 : 1068));
const conc = scenario === 'throughput' ? 64 : 128;
const lines = [];
for (let i = 0; i < rows; i++) lines.push(JSON.stringify({ id: `t${i}`, text: `Ticket ${i}: my invoice was charged twice, please refund the duplicate payment.` }));
writeFileSync(join(work, 'rows.jsonl'), lines.join('\n') + '\n');
const cfg = join(work, 'c.yaml');
writeFileSync(cfg, [`name: ${scenario}`, `dataset: ${join(work, 'rows.jsonl')}`, 'id_column: id', 'messages:', '  - { role: system, content: "Triage the ticket. Answer with a JSON object." }', '  - { role: user, content: "{{text}}" }', 'params: { max_tokens: 120, response_format: { type: json_object } }', 'grid: { model: [gpt-4o-mini, gpt-4.1-mini], temperature: [0, 0.7, 1.4], top_p: [1, 0.5], n: [1] }', `schema: ${join(ROOT, 'datasets/demo/triage.schema.json')}`, `concurrency: ${conc}`, 'timeout_s: 60'].join('\n'));
const schema = JSON.parse(readFileSync(join(ROOT, 'datasets/demo/triage.schema.json'), 'utf8'));
const sim = await startSimulator({ seed: 1, schema, ...(scenario === 'latency' ? { latency: 200 } : {}) });
function run(bin) {
  return new Promise((resolve, reject) => {
    const out = join(work, `o-${Math.random().toString(36).slice(2)}`);
    const c = spawn('/usr/bin/time', ['-f', '@@TIME %e %U %S %M', process.execPath, bin, 'run', cfg, '--out', out, '--quiet'], { env: { ...process.env, OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: 'sk-bench' } });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => {
      const m = /@@TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(err);
      rmSync(out, { recursive: true, force: true });
      if (code !== 0 || !m) return reject(new Error(err.slice(-500)));
      resolve({ wall: +m[1], cpu: +m[2] + +m[3], rss: +m[4] / 1024 });
    });
  });
}
const names = Object.keys(builds);
const res = Object.fromEntries(names.map((k) => [k, []]));
for (let i = 0; i < rounds; i++) {
  for (const k of i % 2 ? [...names].reverse() : names) {
    const r = await run(builds[k]);
    res[k].push(r);
    console.log(`${scenario} round ${i + 1} ${k.padEnd(6)} wall ${r.wall.toFixed(2)} s  ${(rows * 12 / r.wall).toFixed(0)} req/s  cpu ${r.cpu.toFixed(2)} s  rss ${r.rss.toFixed(0)} MB`);
  }
}
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
for (const k of names) {
  const w = med(res[k].map((r) => r.wall));
  const extra = scenario === 'latency' ? ` = ${((rows * 12 / w) / 640 * 100).toFixed(1)}% of 640` : '';
  console.log(`${scenario} ${k.padEnd(6)} median: wall ${w.toFixed(2)} s, ${(rows * 12 / w).toFixed(0)} req/s${extra}; cpu ${med(res[k].map((r) => r.cpu)).toFixed(2)} s; rss ${med(res[k].map((r) => r.rss)).toFixed(0)} MB`);
}
await sim.close();
rmSync(work, { recursive: true, force: true });
