/**
 * A run whose dataset rows, row ids and (through the simulator, which quotes the question back) model answers carry
 * markup that would run script if a report ever treated text as HTML. Every canary sets window.__xss.
 */
import { join } from 'node:path';
import { runEval } from '../../src/app/run.js';
import { writeTree } from '../helpers/tmp.js';

export const CANARY_IMG = '<img src=x onerror=window.__xss=1>';
export const CANARY_SCRIPT = '</script><script>window.__xss=3</script>';
const CANARY_ID = 'r1<img src=y onerror=window.__xss=2>';

const rows = [
  ['id', 'text'],
  [CANARY_ID, CANARY_IMG],
  ['r2', CANARY_SCRIPT],
  ['r3', 'Is my invoice for March correct?'],
  ['r4', 'How do I reset my password?'],
  ['r5', 'Why was my card charged twice?'],
  ['r6', 'Can I export my data as "CSV, please"?'],
];
const csv = rows.map((r) => r.map((v) => `"${v.replace(/"/g, '""')}"`).join(',')).join('\n');

export async function makeXssRun(base: string): Promise<string> {
  await writeTree(base, {
    'rows.csv': `${csv}\n`,
    'evalrun.yaml': `name: xss-canary
dataset: rows.csv
id_column: id
messages:
  - { role: user, content: "{{text}}" }
params: { model: gpt-4o-mini }
grid:
  temperature: [0, 1.2]
  top_p: [1, 0.5]
  max_tokens: [200, 12]
  n: [2]
provider: simulator
checks:
  - { name: says_sorry, type: contains, expected: sorry, ignore_case: true }
gates:
  - { metric: length_rate, max: 0.1 }
`,
  });
  const out = join(base, 'run');
  await runEval({ config: join(base, 'evalrun.yaml'), out });
  return out;
}
