/**
 * Edges where the file system says no: an --out that cannot be created, and a journal that cannot be written (a
 * full disk, simulated with a file-size limit). Each is the output exit code (6) with a one-line message, and a
 * journal failure leaves run.json saying 'failed' and the run resumable.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT, STACK_LINE, cleanEnv, runMain, type CliResult } from '../helpers/cli.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs();
const CONFIG = join(ROOT, 'test/fixtures/configs/sim-json.yaml');

/** The CLI with its files limited to `kb` KiB: writes past it fail with EFBIG, as on a full disk (SIGXFSZ ignored). */
function runLimited(args: string[], kb: number): Promise<CliResult> {
  const quoted = [BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `trap '' XFSZ; ulimit -f ${kb}; exec '${process.execPath}' ${quoted}`], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('file-system edges', () => {
  it('an --out that cannot be created is exit 6 with one line naming it, and no stack', async () => {
    const r = await runMain(['run', CONFIG, '--out', '/dev/null/x', '--quiet']);
    expect(r.code).toBe(6);
    expect(r.stderr.trim().split('\n')).toEqual(['cannot create the run directory /dev/null/x: a part of the path is a file, not a directory (ENOTDIR); choose another --out']);
    expect(r.stderr).not.toMatch(STACK_LINE);
  });

  it('a journal that cannot be written stops the run: exit 6, run.json failed, and a resume completes it', async () => {
    const out = join(await tempDir(), 'run');
    // run.json (~4 KB) fits; records.jsonl (~35 KB for this config) does not.
    const full = await runLimited(['run', CONFIG, '--out', out, '--quiet'], 16);
    expect(full.code, full.stderr).toBe(6);
    expect(full.stderr).toMatch(/cannot write .*records\.jsonl: .*file-size limit is full/);
    expect(full.stderr).not.toMatch(STACK_LINE);
    const manifest = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { status: string; exit_code: number; sessions: Array<{ recorded: number }> };
    expect(manifest.status).toBe('failed');
    expect(manifest.exit_code).toBe(6);
    const lines = readFileSync(join(out, 'records.jsonl'), 'utf8').split('\n').filter((l) => l.endsWith('}')).length;
    expect(manifest.sessions[0]!.recorded).toBeLessThanOrEqual(lines);

    const resumed = await runMain(['run', CONFIG, '--out', out, '--resume', '--quiet']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { complete: boolean; recorded: { requests: number } };
    expect(summary).toMatchObject({ complete: true, recorded: { requests: 40 } });
  });
});
