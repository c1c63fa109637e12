/** A misspelt simulator option is refused where the user wrote it, not ignored (a fault that would never fire). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMain, STACK_LINE } from '../helpers/cli.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();

describe('simulator options', () => {
  it("evalrun run refuses an unknown provider.simulator key → exit 3 at the key's line, with 'did you mean'", async () => {
    const dir = await tempDir('evalrun-simopt-');
    const yaml = [
      'dataset: rows.csv',
      'messages: [{ role: user, content: "{{subject}}" }]',
      'params: { model: gpt-4o-mini }',
      'provider:',
      '  simulator:',
      '    faults: { rate_limt: 0.5 }',
      '    batch:',
      '      duraton_ms: 100',
      '      expire: { after: 0.5 }',
    ].join('\n');
    await writeTree(dir, { 'evalrun.yaml': yaml, 'rows.csv': 'ticket_id,subject\nT-1,first\n' });
    const config = join(dir, 'evalrun.yaml');
    const r = await runMain(['run', config, '--out', join(dir, 'run'), '--quiet']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).not.toMatch(STACK_LINE);
    const lines = r.stderr.trimEnd().split('\n').sort();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${config}:6:\\d+ provider\\.simulator\\.faults\\.rate_limt: unknown key 'rate_limt' \\(did you mean 'rate_limit'\\?\\)`));
    expect(lines[1]).toMatch(new RegExp(`^${config}:8:\\d+ provider\\.simulator\\.batch\\.duraton_ms: unknown key 'duraton_ms' \\(did you mean 'duration_ms'\\?\\); allowed here: duration_ms, faults`));
    expect(existsSync(join(dir, 'run'))).toBe(false);
  });

  it('evalrun simulate refuses an unknown key in --options → exit 3', async () => {
    const dir = await tempDir('evalrun-simopt-');
    await writeTree(dir, { 'sim.json': JSON.stringify({ batch: { fail_validaton: { times: 1 } } }) });
    const r = await runMain(['simulate', '--port', '0', '--options', join(dir, 'sim.json')]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr.trimEnd()).toMatch(new RegExp(`^${join(dir, 'sim.json')} batch\\.fail_validaton: unknown key 'fail_validaton' \\(did you mean 'fail_validation'\\?\\)`));
  });
});
