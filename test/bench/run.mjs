// `npm run bench`: evalrun's own overhead, measured against the built-in simulator over loopback HTTP (the path
// users take). Each scenario runs the built CLI in a child process under /usr/bin/time, so wall time, CPU and peak
// RSS are measured from outside; scenarios repeat and the median is reported (the machines are shared and noisy).
//   npm run bench                      all scenarios, 3 repeats
//   npm run bench -- --quick           smaller sizes, 1 repeat
//   npm run bench -- --only throughput,startup
//   npm run bench -- --only merge          evalrun merge of 10 shards × 60k requests
//   npm run bench -- --only batch          batch mode: 200k requests in 4 batch files through the simulator
//   npm run bench -- --only history        evalrun history over 30 runs × 60k requests, and 365 runs of the demo
//   npm run bench -- --only history-demo   the 365 runs of the demo only
//   npm run bench -- --only view           evalrun view of a 600,000-choice run: first page, later pages, peak RSS
//   npm run bench -- --vs-promptfoo    also run promptfoo@0.121.20 (installed into a temp dir) on the same job
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator } from '../../dist/simulator/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'dist/bin.js');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const vsPromptfoo = args.includes('--vs-promptfoo');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : undefined;
const repeats = quick ? 1 : Number(args.includes('--repeats') ? args[args.indexOf('--repeats') + 1] : 3);
const work = mkdtempSync(join(tmpdir(), 'evalrun-bench-'));
const schema = JSON.parse(readFileSync(join(ROOT, 'datasets/demo/triage.schema.json'), 'utf8'));
const results = [];

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

function dataset(rows, file) {
  const path = join(work, file);
  if (!existsSync(path)) {
    const lines = [];
    for (let i = 0; i < rows; i++) lines.push(JSON.stringify({ id: `t${i}`, text: `Ticket ${i}: my invoice was charged twice, please refund the duplicate payment.` }));
    writeFileSync(path, `${lines.join('\n')}\n`);
  }
  return path;
}

/** rows × 12 cells (2 models × 3 temperatures × 2 top_p), json_object with a schema check: the issue's job shape. */
function config(name, { rows, n = 1, concurrency = 64, extra = '', grid = `temperature: [0, 0.7, 1.4], top_p: [1, 0.5], n: [${n}]` }) {
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, [
    `name: ${name}`,
    `dataset: ${dataset(rows, `rows-${rows}.jsonl`)}`,
    'id_column: id',
    'messages:',
    '  - { role: system, content: "Triage the ticket. Answer with a JSON object." }',
    '  - { role: user, content: "{{text}}" }',
    'params: { max_tokens: 120, response_format: { type: json_object } }',
    `grid: { model: [gpt-4o-mini, gpt-4.1-mini], ${grid} }`,
    `schema: ${join(ROOT, 'datasets/demo/triage.schema.json')}`,
    `concurrency: ${concurrency}`,
    'timeout_s: 60',
    extra,
  ].join('\n'));
  return file;
}

/** Runs a command under /usr/bin/time; returns wall/cpu seconds and peak RSS of the command itself. */
function timed(cmd, cmdArgs, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '@@TIME %e %U %S %M', cmd, ...cmdArgs], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /@@TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(err);
      if (!m) return reject(new Error(`no timing for ${cmd} ${cmdArgs.join(' ')}: ${err.slice(-500)}`));
      resolve({ code, out, err, wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]), rssMb: Number(m[4]) / 1024 });
    });
  });
}

async function withSim(options, fn) {
  const sim = await startSimulator({ seed: 1, schema, ...options });
  try {
    return await fn(sim);
  } finally {
    await sim.close();
  }
}

async function evalrun(name, cfg, sim, extraArgs = []) {
  const out = join(work, `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`);
  const r = await timed(process.execPath, [BIN, 'run', cfg, '--out', out, '--quiet', ...extraArgs], { OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: 'sk-bench' });
  if (r.code !== 0) throw new Error(`${name}: evalrun exited ${r.code}: ${r.err.slice(-800)}`);
  const records = join(out, 'records.jsonl');
  const sendPhase = statSync(records).size < 64 * 2 ** 20 ? sendingSeconds(records) : undefined;
  rmSync(out, { recursive: true, force: true });
  return { ...r, sendPhase };
}

/** From the first request sent to the last answer recorded: the wall time without start-up and the report pass. */
function sendingSeconds(records) {
  let first = Infinity;
  let last = -Infinity;
  for (const line of readFileSync(records, 'utf8').split('\n')) {
    if (!line) continue;
    const r = JSON.parse(line);
    const start = Date.parse(r.started_at);
    first = Math.min(first, start);
    last = Math.max(last, start + r.elapsed_ms);
  }
  return (last - first) / 1000;
}

function record(row) {
  results.push(row);
  const f = (v, d = 0) => (typeof v === 'number' ? v.toFixed(d) : String(v ?? '-'));
  console.log(`${row.scenario.padEnd(44)} ${f(row.requests).padStart(8)} ${f(row.wall_s, 2).padStart(8)} ${f(row.rps, 0).padStart(8)} ${f(row.cpu_s, 2).padStart(7)} ${f(row.rss_mb, 0).padStart(7)}  ${row.target ?? ''} ${row.pass === undefined ? '' : row.pass ? 'PASS' : 'FAIL'}`);
}

async function repeat(fn) {
  const runs = [];
  for (let i = 0; i < repeats; i++) runs.push(await fn(i));
  return {
    wall: median(runs.map((r) => r.wall)),
    cpu: median(runs.map((r) => r.cpu)),
    rssMb: median(runs.map((r) => r.rssMb)),
    sendPhase: median(runs.map((r) => r.sendPhase ?? NaN)),
    extra: runs.map((r) => r.extra),
  };
}

const scenarios = {
  async throughput() {
    const rows = quick ? 1000 : 5000;
    const requests = rows * 12;
    const cfg = config('throughput', { rows });
    await withSim({}, async (sim) => {
      const body = join(work, 'body.json');
      writeFileSync(body, JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'Triage the ticket. Answer with a JSON object.' }, { role: 'user', content: 'Ticket 1: my invoice was charged twice.' }], max_tokens: 120, temperature: 0.7, response_format: { type: 'json_object' } }));
      const gen = await repeat(async () => {
        const r = await timed(process.execPath, [join(ROOT, 'test/bench/load-generator.mjs'), sim.url, String(requests), '64', body]);
        return { ...r, wall: JSON.parse(r.out).seconds };
      });
      const ceiling = requests / gen.wall;
      record({ scenario: 'ceiling: keep-alive load generator', requests, wall_s: gen.wall, rps: ceiling, cpu_s: gen.cpu, rss_mb: gen.rssMb });
      // References, not targets: the official SDK alone, answers thrown away. A fifth of the requests: it is slow.
      for (const fetch of ['node', 'undici']) {
        const sdkRequests = requests / 5;
        const sdk = await repeat(async () => {
          const r = await timed(process.execPath, [join(ROOT, 'test/bench/sdk-generator.mjs'), sim.url, String(sdkRequests), '64', body], { FETCH: fetch });
          return { ...r, wall: JSON.parse(r.out).seconds };
        });
        const rps = sdkRequests / sdk.wall;
        record({ scenario: `reference: openai SDK alone, ${fetch === 'node' ? "Node's fetch" : 'undici fetch'}`, requests: sdkRequests, wall_s: sdk.wall, rps, cpu_s: sdk.cpu, rss_mb: sdk.rssMb, target: `${((rps / ceiling) * 100).toFixed(0)}% of ceiling` });
      }
      const m = await repeat(() => evalrun('throughput', cfg, sim));
      const rps = requests / m.wall;
      const sending = requests / m.sendPhase;
      record({ scenario: 'throughput: 12 cells, json+schema, c64', requests, wall_s: m.wall, rps, cpu_s: m.cpu, rss_mb: m.rssMb, send_phase_s: m.sendPhase, target: `≥2000 r/s (${(rps / 2000).toFixed(2)}×), ≥50% of ceiling (${((rps / ceiling) * 100).toFixed(0)}%; first send to last answer: ${((sending / ceiling) * 100).toFixed(0)}%)`, pass: rps >= 2000 && rps >= 0.5 * ceiling });
      record({ scenario: 'memory: 60k requests (n=1)', requests, wall_s: m.wall, rss_mb: m.rssMb, target: '≤150 MB', pass: m.rssMb <= 150 });
      results.memory60k = m.rssMb;
    });
  },
  async memory() {
    const rows = quick ? 1000 : 5000;
    const cfg = config('memory', { rows, n: 10 });
    await withSim({}, async (sim) => {
      const m = await repeat(() => evalrun('memory', cfg, sim));
      const base = results.memory60k;
      record({ scenario: 'memory: 600k choices (n=10)', requests: rows * 12, wall_s: m.wall, rps: (rows * 12) / m.wall, cpu_s: m.cpu, rss_mb: m.rssMb, target: base ? `within 20% of n=1 (${((m.rssMb / base - 1) * 100).toFixed(0)}%)` : '(run with throughput)', pass: base ? m.rssMb <= base * 1.2 : undefined });
    });
  },
  async latency() {
    // 20 s of ideal run time, so start-up and the report pass weigh little in the wall time.
    const rows = quick ? 200 : 1068;
    const requests = rows * 12;
    const cfg = config('latency', { rows, concurrency: 128 });
    await withSim({ latency: 200 }, async (sim) => {
      const body = join(work, 'body-latency.json');
      writeFileSync(body, JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'Answer with a JSON object.' }, { role: 'user', content: 'Ticket 1.' }], max_tokens: 120, response_format: { type: 'json_object' } }));
      const gen = await timed(process.execPath, [join(ROOT, 'test/bench/load-generator.mjs'), sim.url, String(requests), '128', body]);
      const genRps = requests / JSON.parse(gen.out).seconds;
      record({ scenario: 'ceiling: generator, 200 ms, c128', requests, wall_s: JSON.parse(gen.out).seconds, rps: genRps, cpu_s: gen.cpu, rss_mb: gen.rssMb, target: `${((genRps / 640) * 100).toFixed(1)}% of 640 r/s` });
      const m = await repeat(() => evalrun('latency', cfg, sim));
      const rps = requests / m.wall;
      const sending = requests / m.sendPhase;
      record({ scenario: 'latency-bound: 200 ms, c128', requests, wall_s: m.wall, rps, cpu_s: m.cpu, rss_mb: m.rssMb, send_phase_s: m.sendPhase, target: `≥95% of 640 r/s (${((rps / 640) * 100).toFixed(1)}%; first send to last answer: ${((sending / 640) * 100).toFixed(1)}%)`, pass: rps >= 0.95 * 640 });
    });
  },
  async ratelimited() {
    // Longer than a minute, so the simulator's 60 s window is really tested.
    const rows = quick ? 500 : 1250;
    const requests = rows * 12;
    const cfg = config('ratelimited', { rows, extra: 'rate_limit: { rpm: 12000 }' });
    const reps = [];
    for (let i = 0; i < (quick ? 1 : Math.min(repeats, 2)); i++) {
      await withSim({ rpm: 12000 }, async (sim) => {
        const m = await evalrun('ratelimited', cfg, sim);
        reps.push({ ...m, rejected: sim.stats.byStatus['429'] ?? 0, perMinuteMax: sim.stats.perMinuteMax });
      });
    }
    const wall = median(reps.map((r) => r.wall));
    const rpm = (requests / wall) * 60;
    const rejected = Math.max(...reps.map((r) => r.rejected));
    record({ scenario: 'rate-limited: rpm 12000', requests, wall_s: wall, rps: requests / wall, cpu_s: median(reps.map((r) => r.cpu)), rss_mb: median(reps.map((r) => r.rssMb)), target: `≥95% of 12000/min (${((rpm / 12000) * 100).toFixed(1)}%), 429s: ${rejected}, max in a minute: ${Math.max(...reps.map((r) => r.perMinuteMax))}`, pass: rpm >= 0.95 * 12000 && rejected === 0 });
  },
  async startup() {
    const help = await repeat(() => timed(process.execPath, [BIN, '--help']));
    record({ scenario: 'start-up: evalrun --help', wall_s: help.wall, cpu_s: help.cpu, rss_mb: help.rssMb, target: `≤0.200 s`, pass: help.wall <= 0.2 });
    const plan = await repeat(() => timed(process.execPath, [BIN, 'plan', join(ROOT, 'datasets/demo/evalrun.yaml')]));
    record({ scenario: 'start-up: evalrun plan (demo)', wall_s: plan.wall, cpu_s: plan.cpu, rss_mb: plan.rssMb, target: `≤0.200 s`, pass: plan.wall <= 0.2 });
  },
  async longcell() {
    // Issue 12: a 1 MB cell of letters without a space was one BPE piece, quadratic: 11 min 50 s of `plan`.
    const dir = join(work, 'longcell');
    mkdirSync(dir, { recursive: true });
    const abc = 'abcdefghijklmnopqrstuvwxyz';
    let x = 7;
    const cell = Array.from({ length: 1_000_000 }, () => abc[(x = (x * 1103515245 + 12345) & 0x7fffffff) % 26]).join('');
    writeFileSync(join(dir, 'rows.csv'), `id,text\n1,${cell}\n2,short\n`);
    writeFileSync(join(dir, 'evalrun.yaml'), 'dataset: rows.csv\nmessages: [{ role: user, content: "{{text}}" }]\nparams: { model: gpt-4.1-mini, max_tokens: 5 }\nprovider: simulator\n');
    const plan = await repeat(async () => {
      const r = await timed(process.execPath, [BIN, 'plan', join(dir, 'evalrun.yaml')]);
      if (r.code !== 0) throw new Error(`plan failed: ${r.err.slice(-300)}`);
      return r;
    });
    record({ scenario: 'plan: a 1 MB cell without spaces', wall_s: plan.wall, cpu_s: plan.cpu, rss_mb: plan.rssMb, target: '≤ 5 s (was 11 min 50 s)', pass: plan.wall <= 5 });
  },
  async resume() {
    // 100,000 requests × n=10 = 1,000,000 choices already recorded but the last 100 requests.
    const rows = quick ? 2000 : 10000;
    const cells = 12;
    const n = 10;
    const total = rows * cells;
    const cfg = config('resume', { rows, n });
    const out = join(work, 'resume-run');
    await withSim({ latency: 5 }, async (sim) => {
      // A real start, killed at once, leaves the run.json a resume checks; the records are then filled in.
      const child = spawn(process.execPath, [BIN, 'run', cfg, '--out', out, '--quiet'], { env: { ...process.env, OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: 'x' }, stdio: 'ignore' });
      while (!existsSync(join(out, 'records.jsonl'))) await new Promise((r) => setTimeout(r, 5));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('close', r));
      const manifest = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
      const content = JSON.stringify({ category: 'billing', priority: 'high', summary: 'Charged twice for one invoice', needs_human: true });
      const choice = (i) => ({ index: i, finish_reason: 'stop', content, refusal: null, tool_calls: null, json_valid: true, schema_valid: true, schema_errors: [] });
      const choices = Array.from({ length: n }, (_, i) => choice(i));
      writeFileSync(join(out, 'records.jsonl'), '');
      let batch = '';
      for (let seq = 0; seq < total - 100; seq++) {
        const cell = manifest.plan.cells[seq % cells].id;
        batch += `${JSON.stringify({ v: 1, seq, cell, row_id: `t${Math.floor(seq / cells)}`, attempts: 1, latency_ms: 20, elapsed_ms: 20, started_at: manifest.started_at, http_status: 200, request_id: 'req', completion_id: 'c', model: 'm', usage: { prompt_tokens: 30, completion_tokens: 300, total_tokens: 330 }, choices, error: null })}\n`;
        if (batch.length > 1 << 22) {
          appendFileSync(join(out, 'records.jsonl'), batch);
          batch = '';
        }
      }
      appendFileSync(join(out, 'records.jsonl'), batch);
      const before = sim.stats.requests;
      const t0 = performance.now();
      const resumed = spawn(process.execPath, [BIN, 'run', cfg, '--out', out, '--quiet', '--resume'], { env: { ...process.env, OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: 'x' }, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      resumed.stderr.on('data', (d) => (err += d));
      while (sim.stats.requests === before && resumed.exitCode === null) await new Promise((r) => setTimeout(r, 2));
      const firstSend = (performance.now() - t0) / 1000;
      const code = await new Promise((r) => resumed.on('close', r));
      const wall = (performance.now() - t0) / 1000;
      if (code !== 0) throw new Error(`resume exited ${code}: ${err.slice(-500)}`);
      record({ scenario: `resume: ${(((total - 100) * n) / 1e6).toFixed(1)}M choices recorded`, requests: 100, wall_s: wall, target: `first request within 5 s (${firstSend.toFixed(2)} s)`, pass: firstSend <= 5 });
    });
    rmSync(out, { recursive: true, force: true });
  },
  async merge() {
    // 10 shards of 60,000 requests each (600,000 in all): what `evalrun merge` reads in a 10-job CI matrix. A real
    // shard start, killed at once, gives a genuine run.json; the 10 shards' manifests and journals are then written
    // as finished shards would leave them (neighbours swapped, as concurrent requests finish out of order).
    const shards = 10;
    const cells = 12;
    const rows = quick ? 5000 : 50000;
    const total = rows * cells;
    const cfg = config('merge', { rows });
    const { shardRange } = await import('../../dist/plan/shard.js');
    const dirs = [];
    await withSim({ latency: 50 }, async (sim) => {
      const probe = join(work, 'merge-probe');
      const child = spawn(process.execPath, [BIN, 'run', cfg, '--shard', `1/${shards}`, '--out', probe, '--quiet'], { env: { ...process.env, OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: 'x' }, stdio: 'ignore' });
      while (!existsSync(join(probe, 'records.jsonl'))) await new Promise((r) => setTimeout(r, 5));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('close', r));
      const template = JSON.parse(readFileSync(join(probe, 'run.json'), 'utf8'));
      rmSync(probe, { recursive: true, force: true });
      const content = JSON.stringify({ category: 'billing', priority: 'high', summary: 'Charged twice for one invoice', needs_human: true });
      for (let i = 1; i <= shards; i++) {
        const dir = join(work, `merge-shard-${i}`);
        mkdirSync(dir, { recursive: true });
        const shard = shardRange({ index: i, count: shards }, rows, template.plan.cells);
        writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...template, shard, status: 'complete', exit_code: 0, sessions: [{ ...template.sessions[0], status: 'complete', recorded: shard.requests }] }));
        const file = join(dir, 'records.jsonl');
        writeFileSync(file, '');
        let batch = '';
        for (let k = 0; k < shard.requests; k++) {
          // Pairs finish swapped: the journal is not in plan order.
          const seq = shard.first_seq + (k % 2 === 0 ? Math.min(k + 1, shard.requests - 1) : k - 1);
          const cell = template.plan.cells[seq % cells].id;
          const choice = { index: 0, finish_reason: seq % 17 === 0 ? 'length' : 'stop', content, refusal: null, tool_calls: null, json_valid: true, schema_valid: seq % 23 !== 0, schema_errors: [] };
          batch += `${JSON.stringify({ v: 1, seq, cell, row_id: `t${Math.floor(seq / cells)}`, attempts: 1, latency_ms: 20 + (seq % 50), elapsed_ms: 20, started_at: template.started_at, http_status: 200, request_id: 'req', completion_id: 'c', model: 'm', usage: { prompt_tokens: 30, completion_tokens: 40, total_tokens: 70 }, choices: [choice], error: null })}\n`;
          if (batch.length > 1 << 22) {
            appendFileSync(file, batch);
            batch = '';
          }
        }
        appendFileSync(file, batch);
        dirs.push(dir);
      }
    });
    let kept;
    const m = await repeat(async () => {
      const out = join(work, `merged-${Math.random().toString(36).slice(2, 6)}`);
      const r = await timed(process.execPath, [BIN, 'merge', ...dirs, '--out', out]);
      if (r.code !== 0) throw new Error(`merge exited ${r.code}: ${r.err.slice(-800)}`);
      const merged = readFileSync(join(out, 'summary.json'), 'utf8');
      if (JSON.parse(merged).recorded.requests !== total) throw new Error('merge: not every request in the merged run');
      if (kept) rmSync(out, { recursive: true, force: true });
      else kept = out;
      return r;
    });
    record({ scenario: `merge: ${shards} shards × ${total / shards} requests`, requests: total, wall_s: m.wall, rps: total / m.wall, cpu_s: m.cpu, rss_mb: m.rssMb, target: '≤150 MB (flat memory)', pass: m.rssMb <= 150 });
    // Reference: the report pass alone over the merged run's one journal, which the merge also runs.
    const rep = await repeat(() => timed(process.execPath, [BIN, 'report', kept]));
    record({ scenario: `reference: evalrun report of the merged run`, requests: total, wall_s: rep.wall, rps: total / rep.wall, cpu_s: rep.cpu, rss_mb: rep.rssMb });
    rmSync(kept, { recursive: true, force: true });
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  },
  async batch() {
    // Batch mode: 200,000 requests (50,000 rows × 4 cells, 2 models) through the simulator's Batch API: 4 files of
    // 50,000 lines, built by streaming the plan and ingested line by line. The rates come from run.json (build_s,
    // ingest_s per part); the memory target is the CLI's peak RSS.
    const rows = quick ? 5000 : 50_000;
    const file = config('batch', { rows, grid: 'temperature: [0, 0.7]', extra: 'batch: { poll_s: 0.5 }' });
    const total = rows * 4;
    const m = await repeat(() =>
      withSim({ batch: { duration_ms: 2000 } }, async (sim) => {
        const out = join(work, `batch-${Math.random().toString(36).slice(2, 6)}`);
        const r = await timed(process.execPath, [BIN, 'run', file, '--out', out, '--quiet'], { OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: 'sk-bench' });
        if (r.code !== 0 && r.code !== 1) throw new Error(`batch: evalrun exited ${r.code}: ${r.err.slice(-800)}`);
        const parts = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).batch.parts;
        const recorded = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).recorded.requests;
        if (recorded !== total) throw new Error(`batch: ${recorded} of ${total} requests recorded`);
        const sum = (k) => parts.reduce((s, p) => s + (p[k] ?? 0), 0);
        rmSync(out, { recursive: true, force: true });
        return { ...r, extra: { files: parts.length, buildRate: total / sum('build_s'), ingestRate: total / sum('ingest_s') } };
      }),
    );
    const x = m.extra[0];
    record({ scenario: `batch: ${total} requests, ${x.files} batch files`, requests: total, wall_s: m.wall, rps: total / m.wall, cpu_s: m.cpu, rss_mb: m.rssMb, target: '≤150 MB (flat memory)', pass: m.rssMb <= 150 });
    record({ scenario: 'batch: building input files (lines/s)', requests: total, rps: median(m.extra.map((e) => e.buildRate)) });
    record({ scenario: 'batch: ingesting output files (lines/s)', requests: total, rps: median(m.extra.map((e) => e.ingestRate)) });
    // The same run on `provider: simulator`: the simulator runs inside the CLI process, so the peak RSS is both
    // together. Its files and batches live on disk in the run directory (DIR/simulator), never in memory.
    const inProcess = config('batch-sim', { rows, grid: 'temperature: [0, 0.7]', extra: 'batch: { poll_s: 0.5 }\nprovider: { simulator: { batch: { duration_ms: 2000 } } }\nseed: 1' });
    const p = await repeat(async () => {
      const out = join(work, `batch-sim-${Math.random().toString(36).slice(2, 6)}`);
      const r = await timed(process.execPath, [BIN, 'run', inProcess, '--out', out, '--quiet']);
      if (r.code !== 0 && r.code !== 1) throw new Error(`batch (provider: simulator): evalrun exited ${r.code}: ${r.err.slice(-800)}`);
      const recorded = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).recorded.requests;
      if (recorded !== total) throw new Error(`batch (provider: simulator): ${recorded} of ${total} requests recorded`);
      rmSync(out, { recursive: true, force: true });
      return r;
    });
    record({ scenario: `batch on provider: simulator (in-process), ${total}`, requests: total, wall_s: p.wall, rps: total / p.wall, cpu_s: p.cpu, rss_mb: p.rssMb, target: '≤200 MB (CLI + simulator)', pass: p.rssMb <= 200 });
  },
  // A script check on every choice of the throughput job (≤ 25% of its wall time), and `regrade` of that run (≤ 20% of
  // the run's wall time, flat memory). Runs with and without the check alternate, so both see the same noise; each
  // regrade follows the run it regrades. Flat memory: the regrade of a run five times smaller peaks within 20%.
  async graders() {
    const rows = quick ? 1000 : 5000;
    const requests = rows * 12;
    const module = join(work, 'bench-check.mjs');
    writeFileSync(module, "export default ({ json }) => (json && typeof json.summary === 'string' ? Math.min(1, json.summary.length / 40) : { pass: null, reason: 'no summary' });\n");
    const checks = `checks:\n  - { name: summary_len, type: script, module: ${module} }`;
    const plain = config('graders-plain', { rows });
    const scripted = config('graders-script', { rows, extra: checks });
    const smaller = config('graders-script-small', { rows: rows / 5, extra: checks });
    await withSim({}, async (sim) => {
      const env = { OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: 'sk-bench' };
      const runAndRegrade = async (cfg, out) => {
        const run = await timed(process.execPath, [BIN, 'run', cfg, '--out', out, '--quiet'], env);
        if (run.code !== 0) throw new Error(`graders: evalrun exited ${run.code}: ${run.err.slice(-800)}`);
        // No key, no base URL: regrade sends nothing.
        const rg = await timed(process.execPath, [BIN, 'regrade', out], { OPENAI_BASE_URL: '', OPENAI_API_KEY: '' });
        if (rg.code !== 0) throw new Error(`graders: regrade exited ${rg.code}: ${rg.err.slice(-800)}`);
        rmSync(out, { recursive: true, force: true });
        return { run, rg: { ...rg, ratio: rg.wall / run.wall, cpuRatio: rg.cpu / run.cpu } };
      };
      const without = [];
      const withScript = [];
      const regrades = [];
      for (let i = 0; i < repeats; i++) {
        without.push(await evalrun('graders-plain', plain, sim));
        const { run, rg } = await runAndRegrade(scripted, join(work, `graders-script-${i}`));
        withScript.push(run);
        regrades.push(rg);
      }
      const small = (await runAndRegrade(smaller, join(work, 'graders-script-small'))).rg;
      const base = median(without.map((r) => r.wall));
      const scriptWall = median(withScript.map((r) => r.wall));
      const overhead = scriptWall / base - 1;
      record({ scenario: 'graders: throughput without checks', requests, wall_s: base, rps: requests / base, cpu_s: median(without.map((r) => r.cpu)), rss_mb: median(without.map((r) => r.rssMb)) });
      record({ scenario: 'graders: same, a script check on every choice', requests, wall_s: scriptWall, rps: requests / scriptWall, cpu_s: median(withScript.map((r) => r.cpu)), rss_mb: median(withScript.map((r) => r.rssMb)), target: `≤25% more wall time (${(overhead * 100).toFixed(0)}%)`, pass: overhead <= 0.25 });
      const ratio = median(regrades.map((r) => r.ratio));
      const cpuRatio = median(regrades.map((r) => r.cpuRatio));
      const rgWall = median(regrades.map((r) => r.wall));
      record({ scenario: 'graders: regrade of the scripted run', requests, wall_s: rgWall, rps: requests / rgWall, cpu_s: median(regrades.map((r) => r.cpu)), rss_mb: median(regrades.map((r) => r.rssMb)), target: `≤20% of the run's wall time: ${(ratio * 100).toFixed(0)}% (CPU: ${(cpuRatio * 100).toFixed(0)}% of the run's)`, pass: ratio <= 0.2 });
      const rgRss = median(regrades.map((r) => r.rssMb));
      record({ scenario: 'graders: regrade memory, 5x more records', requests, rss_mb: rgRss, target: `flat: within 20% of a fifth of the records (${small.rssMb.toFixed(0)} MB; ${((rgRss / small.rssMb - 1) * 100).toFixed(0)}%)`, pass: rgRss <= small.rssMb * 1.2 });
    });
  },
  // A judged run of the throughput job (one judge call per choice) sends answers and judge calls at the same HTTP
  // rate as the unjudged run, within 20% (issue #25). Runs with and without the judge alternate, so both see the same
  // noise; the rate counts every HTTP request the simulator answered.
  async judges() {
    const rows = quick ? 1000 : 5000;
    const plain = config('judges-plain', { rows });
    const judged = config('judges-judged', { rows, extra: 'checks:\n  - { name: sensible, type: judge, model: gpt-4.1, rubric: "Is the triage sensible?" }' });
    await withSim({}, async (sim) => {
      const without = [];
      const withJudge = [];
      for (let i = 0; i < repeats; i++) {
        const a0 = sim.stats.requests;
        const a = await evalrun('judges-plain', plain, sim);
        without.push({ ...a, http: sim.stats.requests - a0 });
        const b0 = sim.stats.requests;
        const b = await evalrun('judges-judged', judged, sim);
        withJudge.push({ ...b, http: sim.stats.requests - b0 });
      }
      // Wall time, start-up and reports included: a judged record's send phase would stop at its answer, not its calls.
      const rate = (r) => r.http / r.wall;
      const base = median(without.map(rate));
      const judgedRate = median(withJudge.map(rate));
      const ratio = judgedRate / base;
      record({ scenario: 'judges: throughput without a judge', requests: without[0].http, wall_s: median(without.map((r) => r.wall)), rps: base, cpu_s: median(without.map((r) => r.cpu)), rss_mb: median(without.map((r) => r.rssMb)) });
      record({ scenario: 'judges: same, one judge call per choice', requests: withJudge[0].http, wall_s: median(withJudge.map((r) => r.wall)), rps: judgedRate, cpu_s: median(withJudge.map((r) => r.cpu)), rss_mb: median(withJudge.map((r) => r.rssMb)), target: `HTTP rate within 20% of the unjudged run's (${(ratio * 100).toFixed(0)}%)`, pass: ratio >= 0.8 });

      // regrade with the judge unchanged reads every recorded call back and sends none; flat memory: the regrade of a
      // run five times smaller peaks within 20%.
      const env = { OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: 'sk-bench' };
      const regradeOf = async (cfg, name) => {
        const out = join(work, name);
        const run = await timed(process.execPath, [BIN, 'run', cfg, '--out', out, '--quiet'], env);
        if (run.code !== 0) throw new Error(`judges: evalrun exited ${run.code}: ${run.err.slice(-800)}`);
        const before = sim.stats.requests;
        const rg = await timed(process.execPath, [BIN, 'regrade', out], env);
        if (rg.code !== 0) throw new Error(`judges: regrade exited ${rg.code}: ${rg.err.slice(-800)}`);
        if (sim.stats.requests !== before) throw new Error(`judges: regrade with an unchanged judge sent ${sim.stats.requests - before} requests`);
        rmSync(out, { recursive: true, force: true });
        return rg;
      };
      const smallJudged = config('judges-judged-small', { rows: rows / 5, extra: 'checks:\n  - { name: sensible, type: judge, model: gpt-4.1, rubric: "Is the triage sensible?" }' });
      const small = await regradeOf(smallJudged, 'judges-regrade-small');
      const big = await regradeOf(judged, 'judges-regrade');
      record({ scenario: 'judges: regrade, every judge call read back', requests: rows * 12, wall_s: big.wall, rps: (rows * 12) / big.wall, cpu_s: big.cpu, rss_mb: big.rssMb, target: `flat: within 20% of a fifth of the calls (${small.rssMb.toFixed(0)} MB; ${((big.rssMb / small.rssMb - 1) * 100).toFixed(0)}%)`, pass: big.rssMb <= small.rssMb * 1.2 });
    });
  },
  async history() {
    // evalrun history over 30 nightly runs of the 60,000-request job, and over 365 runs of the demo. Real runs are
    // made through the simulator; the other nights are those run directories again (records.jsonl, summary.json and
    // the reports hard-linked) with the first's run.json moved one day on: directories evalrun writes, read as it
    // reads them. The demo's nights cycle through four real runs with simulator seeds 1–4 (the seed is the
    // simulator's, not sent: the requests are the same), so every night's answers differ from the night before and
    // each comparison does its full work; the big job's nights are one run, identical (its figure is reading).
    // `--only history-demo` runs the demo's part alone.
    const { cpSync, linkSync, readdirSync } = await import('node:fs');
    const nights = async (name, sources, count) => {
      const manifest = JSON.parse(readFileSync(join(sources[0], 'run.json'), 'utf8'));
      const root = join(work, `${name}-nights`);
      mkdirSync(root, { recursive: true });
      for (let i = 0; i < count; i++) {
        const dir = join(root, `night-${String(i).padStart(3, '0')}`);
        const source = sources[i % sources.length];
        mkdirSync(dir);
        for (const f of readdirSync(source)) if (f !== 'run.json') linkSync(join(source, f), join(dir, f));
        const day = (iso) => new Date(Date.parse(iso) + i * 86_400_000).toISOString();
        writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...manifest, started_at: day(manifest.started_at), ended_at: day(manifest.ended_at) }));
      }
      return root;
    };
    const runOnce = async (name, cfg, sim) => {
      const out = join(work, `${name}-source`);
      const r = await timed(process.execPath, [BIN, 'run', cfg, '--out', out, '--quiet'], sim ? { OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: 'sk-bench' } : {});
      if (r.code !== 0 && r.code !== 1) throw new Error(`${name}: evalrun exited ${r.code}: ${r.err.slice(-800)}`);
      return out;
    };
    const demoOnly = only?.includes('history-demo') && !only.includes('history');
    const rows = quick ? 1000 : 5000;
    const bigCount = quick ? 10 : 30;
    const big = demoOnly ? undefined : await withSim({}, (sim) => runOnce('history-big', config('history', { rows }), sim));
    const bigRoot = big && (await nights('history-big', [big], bigCount));
    const demos = [];
    for (const seed of [1, 2, 3, 4]) {
      const dir = join(work, `demo-seed-${seed}`);
      cpSync(join(ROOT, 'datasets/demo'), dir, { recursive: true });
      appendFileSync(join(dir, 'evalrun.yaml'), `\nseed: ${seed}\n`);
      demos.push(await runOnce(`history-demo-${seed}`, join(dir, 'evalrun.yaml')));
    }
    const demoCount = quick ? 60 : 365;
    const demoRoot = await nights('history-demo', demos, demoCount);
    for (const [label, root, count, requests, target] of [
      ...(big ? [[`history: ${bigCount} runs × ${rows * 12} requests`, bigRoot, bigCount, rows * 12, 30]] : []),
      [`history: ${demoCount} runs of the demo`, demoRoot, demoCount, 864, 10],
    ]) {
      // Cold: a new --out, every journal read. Warm: the same --out again (as the nightly recipe keeps it), every run
      // taken from what the first history kept of it.
      const check = (out) => {
        const h = JSON.parse(readFileSync(join(out, 'history.json'), 'utf8'));
        if (h.runs.length !== count || h.transitions.length !== count - 1) throw new Error('history: not every run read');
      };
      const warm = [];
      const m = await repeat(async () => {
        const out = join(work, `history-out-${Math.random().toString(36).slice(2, 6)}`);
        const r = await timed(process.execPath, [BIN, 'history', join(root, 'night-*'), '--out', out]);
        if (r.code !== 0) throw new Error(`history exited ${r.code}: ${r.err.slice(-800)}`);
        check(out);
        const w = await timed(process.execPath, [BIN, 'history', join(root, 'night-*'), '--out', out]);
        if (w.code !== 0) throw new Error(`history exited ${w.code}: ${w.err.slice(-800)}`);
        check(out);
        warm.push(w);
        rmSync(out, { recursive: true, force: true });
        return r;
      });
      record({ scenario: label, requests: count * requests, wall_s: m.wall, rps: (count * requests) / m.wall, cpu_s: m.cpu, rss_mb: m.rssMb, target: `≤${target} s, flat memory`, pass: m.wall <= target });
      const w = { wall: median(warm.map((x) => x.wall)), cpu: median(warm.map((x) => x.cpu)), rss: median(warm.map((x) => x.rssMb)) };
      record({ scenario: `${label}, runs kept in --out`, requests: count * requests, wall_s: w.wall, rps: (count * requests) / w.wall, cpu_s: w.cpu, rss_mb: w.rss, target: `≤${target} s`, pass: w.wall <= target });
    }
    for (const dir of [big, bigRoot, ...demos, demoRoot]) if (dir) rmSync(dir, { recursive: true, force: true });
  },
  async view() {
    // `evalrun view` over 600,000 choices (50,000 rows × 12 cells, n = 1): a real start, killed at once, gives a
    // genuine run.json (its config and dataset hash); the journal is then written as a finished run would leave it,
    // neighbours swapped. Timed from the spawn: the first page's answer (the viewer must have indexed the journal),
    // then later pages at random offsets and the last one; peak RSS is the viewer process's VmHWM.
    const cells = 12;
    const rows = quick ? 5000 : 50_000;
    const total = rows * cells;
    const cfg = config('view', { rows });
    const dir = join(work, 'view-run');
    await withSim({ latency: 50 }, async (sim) => {
      const child = spawn(process.execPath, [BIN, 'run', cfg, '--out', dir, '--quiet'], { env: { ...process.env, OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: 'x' }, stdio: 'ignore' });
      while (!existsSync(join(dir, 'records.jsonl'))) await new Promise((r) => setTimeout(r, 5));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('close', r));
    });
    const manifest = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
    const file = join(dir, 'records.jsonl');
    writeFileSync(file, '');
    let batch = '';
    const categories = ['billing', 'bug', 'account', 'feature'];
    for (let k = 0; k < total; k++) {
      const seq = k % 2 === 0 ? Math.min(k + 1, total - 1) : k - 1;
      const row = Math.floor(seq / cells);
      const content = JSON.stringify({ category: categories[(row + seq) % 4], priority: 'high', summary: `Ticket ${row}: charged twice for one invoice, refund requested`, needs_human: seq % 5 === 0 });
      const choice = { index: 0, finish_reason: seq % 17 === 0 ? 'length' : 'stop', content, refusal: null, tool_calls: null, json_valid: true, schema_valid: seq % 23 !== 0, schema_errors: [] };
      batch += `${JSON.stringify({ v: 1, seq, cell: manifest.plan.cells[seq % cells].id, row_id: `t${row}`, attempts: 1, latency_ms: 20 + (seq % 50), elapsed_ms: 20, started_at: manifest.started_at, http_status: 200, request_id: 'req', completion_id: 'c', model: 'm', usage: { prompt_tokens: 30, completion_tokens: 40, total_tokens: 70 }, choices: [choice], error: null })}\n`;
      if (batch.length > 1 << 22) {
        appendFileSync(file, batch);
        batch = '';
      }
    }
    appendFileSync(file, batch);
    const mb = statSync(file).size / 2 ** 20;
    const runs = [];
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      const viewer = spawn(process.execPath, [BIN, 'view', dir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        let out = '';
        viewer.stdout.setEncoding('utf8');
        while (!/Ctrl-C/.test(out)) {
          const chunk = await new Promise((resolve) => { viewer.stdout.once('data', resolve); viewer.once('close', () => resolve('')); });
          if (!chunk) throw new Error(`view exited early: ${out}`);
          out += chunk;
        }
        const url = /at (http:\/\/\S+\/)/.exec(out)[1];
        const get = async (path) => {
          const res = await fetch(url + path);
          if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
          return res.json();
        };
        await get('api/run');
        const first = await get('api/rows?offset=0&limit=10');
        const firstS = (performance.now() - t0) / 1000;
        // CPU the viewer used up to its first page: on a machine shared with other work (the wall time above then
        // waits for a core), the figure that says what an idle machine's wall time would be.
        const stat = readFileSync(`/proc/${viewer.pid}/stat`, 'utf8').split(') ')[1].split(' ');
        const firstCpuS = (Number(stat[11]) + Number(stat[12])) / 100;
        if (first.rows.length !== 10 || first.rows[9].answers.length !== cells) throw new Error('view: the first page is not 10 rows × 12 cells');
        const later = [];
        for (const offset of [...Array.from({ length: 20 }, (_, k) => Math.floor(((k * 7919) % 997) / 997 * (rows - 10))), rows - 10]) {
          const t = performance.now();
          const page = await get(`api/rows?offset=${offset}&limit=10`);
          later.push(performance.now() - t);
          if (page.rows[0].id !== `t${offset}`) throw new Error(`view: page at ${offset} starts at ${page.rows[0].id}`);
        }
        // The same pages once the start-up work behind the first page (index pass, inputs copy) is done.
        for (;;) {
          const { busy } = await get('api/run');
          if (!busy.indexing && !busy.copying_inputs) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        const readyS = (performance.now() - t0) / 1000;
        const settled = [];
        for (const offset of [...Array.from({ length: 20 }, (_, k) => Math.floor(((k * 104729) % 991) / 991 * (rows - 10))), rows - 10]) {
          const t = performance.now();
          await get(`api/rows?offset=${offset}&limit=10`);
          settled.push(performance.now() - t);
        }
        const t = performance.now();
        let filtered = await get('api/rows?check=schema_valid&verdict=fail&offset=0&limit=10');
        const filteredMs = performance.now() - t;
        const ts = performance.now();
        for (;;) {
          filtered = await get('api/rows?q=no-such-text-anywhere&offset=0&limit=10');
          if (filtered.complete) break;
        }
        const scanS = (performance.now() - ts) / 1000;
        const rss = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${viewer.pid}/status`, 'utf8'))[1]) / 1024;
        runs.push({ firstS, firstCpuS, laterMax: Math.max(...later), laterMedian: median(later), readyS, settledMax: Math.max(...settled), settledMedian: median(settled), filteredMs, scanS, rss });
      } finally {
        viewer.kill('SIGINT');
        await new Promise((r) => (viewer.exitCode === null ? viewer.on('close', r) : r()));
      }
    }
    const m = (k) => median(runs.map((r) => r[k]));
    const choicesLabel = `${(total / 1000).toFixed(0)}k choices, ${mb.toFixed(0)} MB journal`;
    record({ scenario: `view: first page (${choicesLabel})`, requests: total, wall_s: m('firstS'), cpu_s: m('firstCpuS'), rss_mb: m('rss'), target: `≤1 s, peak RSS ≤200 MB`, pass: m('firstS') <= 1 && m('rss') <= 200 });
    record({ scenario: 'view: later pages at once (max of 21)', requests: 21, wall_s: m('laterMax') / 1000, target: `≤200 ms (median ${m('laterMedian').toFixed(1)} ms)`, pass: m('laterMax') <= 200 });
    record({ scenario: 'view: start-up work done (index, inputs)', wall_s: m('readyS') });
    record({ scenario: 'view: later pages after that (max of 21)', requests: 21, wall_s: m('settledMax') / 1000, target: `≤200 ms (median ${m('settledMedian').toFixed(1)} ms)`, pass: m('settledMax') <= 200 });
    record({ scenario: 'reference: view, first page of a filter', wall_s: m('filteredMs') / 1000 });
    record({ scenario: 'reference: view, a search that reads it all', requests: total, wall_s: m('scanS'), rps: total / m('scanS') });
    rmSync(dir, { recursive: true, force: true });
  },
  async promptfoo() {
    const { runPromptfoo } = await import('./promptfoo.mjs');
    await runPromptfoo({ work, schema, quick, record, results, timed, withSim, evalrun, config, repeat });
  },
};

console.log(`evalrun bench — node ${process.version}, ${(await import('node:os')).cpus().length} cores, ${new Date().toISOString()}${quick ? ' (quick)' : ''}, median of ${repeats}`);
console.log(`${'scenario'.padEnd(44)} ${'requests'.padStart(8)} ${'wall s'.padStart(8)} ${'req/s'.padStart(8)} ${'cpu s'.padStart(7)} ${'rss MB'.padStart(7)}  target`);
const order = ['startup', 'longcell', 'throughput', 'memory', 'latency', 'ratelimited', 'resume', 'merge', 'batch', 'graders', 'judges', 'history', 'view', ...(vsPromptfoo ? ['promptfoo'] : [])];
let failed = false;
for (const name of order) {
  if (only && !only.includes(name) && !(name === 'history' && only.includes('history-demo'))) continue;
  try {
    await scenarios[name]();
  } catch (e) {
    failed = true;
    console.log(`${name}: ERROR ${e.message}`);
  }
}
mkdirSync(join(ROOT, '.bench'), { recursive: true });
const file = join(ROOT, '.bench', `results-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ node: process.version, date: new Date().toISOString(), quick, repeats, results }, null, 2));
console.log(`\nwritten: ${file}`);
rmSync(work, { recursive: true, force: true });
process.exitCode = failed || results.some((r) => r.pass === false) ? 1 : 0;
void spawnSync;
