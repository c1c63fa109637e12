import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunRecorder } from '../../../src/record/run-recorder.js';
import { LOCK, RunLock } from '../../../src/record/run-lock.js';
import type { RunManifest } from '../../../src/record/manifest.js';
import { makeCell, makeManifest, makeRecord } from '../../helpers/records.js';
import { useTempDirs } from '../../helpers/tmp.js';

const tempDir = useTempDirs();

function manifest(): RunManifest {
  return makeManifest([makeCell('c', {})], 2, { status: 'running', ended_at: null, exit_code: null, sessions: [{ started_at: '2026-12-08T00:00:00.000Z', ended_at: null, status: 'running', recorded: 0 }] });
}
const record = (seq: number) => makeRecord(seq);

const runJson = (dir: string) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunManifest;

describe('RunRecorder', () => {
  it('on a hard stop before the journal is open (a second Ctrl-C during start-up): run.json interrupted, lock gone, nothing thrown', async () => {
    const dir = await tempDir();
    const lock = await RunLock.acquire(dir);
    const recorder = await RunRecorder.start({ dir, lock }, manifest());
    expect(runJson(dir).status).toBe('running');
    expect(() => recorder.hardStopSync(130)).not.toThrow();
    const m = runJson(dir);
    expect(m.status).toBe('interrupted');
    expect(m.exit_code).toBe(130);
    expect(m.sessions.at(-1)).toMatchObject({ status: 'interrupted', recorded: 0 });
    expect(existsSync(join(dir, LOCK))).toBe(false);
    await recorder.release();
  });

  it('on a hard stop after records: they are on disk and counted in the session', async () => {
    const dir = await tempDir();
    const recorder = await RunRecorder.start({ dir, lock: await RunLock.acquire(dir) }, manifest());
    await recorder.openJournal({ redact: (t) => t, onFailure: () => {} });
    recorder.append(record(0));
    recorder.append(record(1));
    recorder.hardStopSync(130);
    expect(readFileSync(join(dir, 'records.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
    expect(runJson(dir).sessions.at(-1)).toMatchObject({ status: 'interrupted', recorded: 2 });
  });

  it('replaces run.json whole on every change and ends the session with its count and exit code', async () => {
    const dir = await tempDir();
    const first = manifest();
    const recorder = await RunRecorder.start({ dir, lock: await RunLock.acquire(dir) }, first);
    await recorder.update((m) => Object.assign({}, m, { exit_code: 9 }));
    expect(first.exit_code).toBeNull();
    expect(runJson(dir).exit_code).toBe(9);
    await recorder.openJournal({ redact: (t) => t.replaceAll('secret', '***'), onFailure: () => {} });
    const written = recorder.append(Object.assign(record(0), { row_id: 'secret' }));
    expect(written.row_id).toBe('***');
    await recorder.closeJournal();
    const ended = await recorder.end('complete', 0);
    expect(ended).toBe(recorder.manifest);
    expect(runJson(dir)).toMatchObject({ status: 'complete', exit_code: 0, sessions: [{ status: 'complete', recorded: 1 }] });
    await recorder.release();
    expect(existsSync(join(dir, LOCK))).toBe(false);
  });
});
