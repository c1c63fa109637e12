// `npm run bench -- --vs-promptfoo`: the same job through promptfoo@0.121.20 (the newest that runs on Node 20),
// installed into a temporary directory (never a dependency of evalrun), against the same simulator in the same run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const VERSION = '0.121.20';

function install(dir) {
  const bin = join(dir, 'node_modules/.bin/promptfoo');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  console.log(`(installing promptfoo@${VERSION} into ${dir} …)`);
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefix', dir, `promptfoo@${VERSION}`], { stdio: 'inherit' });
  if (r.status !== 0 || !existsSync(bin)) throw new Error('promptfoo install failed');
  return bin;
}

export async function runPromptfoo({ work, quick, record, timed, withSim, evalrun, config, repeat }) {
  const dir = process.env.EVALRUN_BENCH_PROMPTFOO_DIR ?? join(work, 'promptfoo');
  const bin = install(dir);
  const rows = quick ? 200 : 1000;
  const requests = rows * 12;
  const csv = ['text', ...Array.from({ length: rows }, (_, i) => `"Ticket ${i}: my invoice was charged twice, please refund the duplicate payment."`)].join('\n');
  writeFileSync(join(work, 'pf-tests.csv'), `${csv}\n`);
  await withSim({}, async (sim) => {
    const providers = [];
    for (const model of ['gpt-4o-mini', 'gpt-4.1-mini'])
      for (const temperature of [0, 0.7, 1.4])
        for (const top_p of [1, 0.5])
          providers.push(
            `  - id: openai:chat:${model}\n    label: ${model}/t${temperature}/p${top_p}\n    config: { apiBaseUrl: "${sim.url}", apiKey: sk-bench, temperature: ${temperature}, top_p: ${top_p}, max_tokens: 120, response_format: { type: json_object } }`,
          );
    const pfConfig = join(work, 'promptfooconfig.yaml');
    writeFileSync(pfConfig, [
      'description: evalrun bench comparison',
      'prompts:',
      `  - '[{"role":"system","content":"Triage the ticket. Answer with a JSON object."},{"role":"user","content":"{{text}}"}]'`,
      'providers:',
      ...providers,
      `tests: file://${join(work, 'pf-tests.csv')}`,
      'defaultTest:',
      '  assert:',
      '    - type: is-json',
    ].join('\n'));
    const env = { PROMPTFOO_DISABLE_TELEMETRY: '1', PROMPTFOO_DISABLE_UPDATE: '1', PROMPTFOO_CONFIG_DIR: join(work, 'pf-home'), OPENAI_API_KEY: 'sk-bench' };
    const version = await timed(bin, ['--version'], env);
    record({ scenario: 'promptfoo --version', wall_s: version.wall, cpu_s: version.cpu, rss_mb: version.rssMb });
    const before = sim.stats.completions;
    const pf = await repeat(async () => {
      const r = await timed(bin, ['eval', '-c', pfConfig, '-j', '64', '--no-cache', '--no-progress-bar', '--no-table', '-o', join(work, `pf-out-${Date.now()}.json`)], env);
      return r;
    });
    const answered = (sim.stats.completions - before) / Math.max(1, repeats(pf));
    record({ scenario: `promptfoo ${VERSION}: same job, -j 64`, requests: Math.round(answered), wall_s: pf.wall, rps: requests / pf.wall, cpu_s: pf.cpu, rss_mb: pf.rssMb });
    const ours = await repeat(() => evalrun('vs-promptfoo', config('vs-promptfoo', { rows }), sim));
    const rps = requests / ours.wall;
    record({ scenario: 'evalrun: same job', requests, wall_s: ours.wall, rps, cpu_s: ours.cpu, rss_mb: ours.rssMb, target: `${(pf.wall / ours.wall).toFixed(1)}× promptfoo's speed, ${(pf.rssMb / ours.rssMb).toFixed(1)}× less memory`, pass: rps >= 10 * (requests / pf.wall) });
  });
}

function repeats(m) {
  return m.extra.length;
}
