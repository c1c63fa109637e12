import { spawn } from 'node:child_process';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode, RunLockedError } from '../../../src/errors.js';
import { LOCK, RunLock } from '../../../src/record/run-lock.js';
import { rejection } from '../../helpers/config.js';
import { useTempDirs } from '../../helpers/tmp.js';

const tempDir = useTempDirs();

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.on('close', r));
  return child.pid!;
}

describe('RunLock', () => {
  it('writes who holds it, refuses a second holder while it lives, and is gone once released', async () => {
    const dir = await tempDir();
    const lock = await RunLock.acquire(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK), 'utf8'))).toMatchObject({ pid: process.pid, hostname: hostname() });
    const e = await rejection(RunLock.acquire(dir));
    expect(e).toBeInstanceOf(RunLockedError);
    expect(e['exitCode']).toBe(ExitCode.Busy);
    expect(e.message).toContain(`pid ${process.pid} on ${hostname()}`);
    await lock.release();
    expect(existsSync(join(dir, LOCK))).toBe(false);
    await (await RunLock.acquire(dir)).release();
  });

  it("takes over a dead process's lock and tells the caller which pid it was", async () => {
    const dir = await tempDir();
    const pid = await deadPid();
    writeFileSync(join(dir, LOCK), JSON.stringify({ pid, hostname: hostname(), started_at: 'then', command: 'evalrun run a.yaml' }));
    const notices: string[] = [];
    const lock = await RunLock.acquire(dir, { onTakeover: (m) => notices.push(m) });
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain(`left by pid ${pid} ('evalrun run a.yaml', since then), which is no longer running`);
    expect(JSON.parse(readFileSync(join(dir, LOCK), 'utf8')).pid).toBe(process.pid);
    await lock.release();
  });

  it('refuses a lock from another host: whether that process lives cannot be told from here', async () => {
    const dir = await tempDir();
    const pid = await deadPid();
    writeFileSync(join(dir, LOCK), JSON.stringify({ pid, hostname: `not-${hostname()}`, started_at: 'then', command: 'evalrun run a.yaml' }));
    const e = await rejection(RunLock.acquire(dir));
    expect(e).toBeInstanceOf(RunLockedError);
    expect(e.message).toContain(`delete ${join(dir, LOCK)}`);
  });

  it('takes over an unreadable lock only once it is old (a process died while creating it)', async () => {
    const dir = await tempDir();
    writeFileSync(join(dir, LOCK), '');
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(dir, LOCK), old, old);
    const notices: string[] = [];
    const lock = await RunLock.acquire(dir, { onTakeover: (m) => notices.push(m) });
    expect(notices[0]).toContain('unreadable');
    await lock.release();
  });

  it('does not remove a lock that another process has taken over since', async () => {
    const dir = await tempDir();
    const lock = await RunLock.acquire(dir);
    const theirs = JSON.stringify({ pid: process.pid, hostname: hostname(), started_at: 'later', command: 'evalrun report x' });
    writeFileSync(join(dir, LOCK), theirs);
    await lock.release();
    expect(readFileSync(join(dir, LOCK), 'utf8')).toBe(theirs);
  });
});

describe('RunLock in a directory that cannot be written', () => {
  it('is an output error (exit 6) that says what to do, not a crash', async () => {
    const dir = await tempDir();
    const e = await rejection(RunLock.acquire(join(dir, 'no-such-dir')));
    expect(e['exitCode']).toBe(ExitCode.Output);
    expect(e.message).toContain('cannot lock');
    expect(e.message).toContain('ENOENT');
  });
});

describe('RunLock and pid reuse', () => {
  it('takes over a lock naming our own pid that this process does not hold (an earlier process with the same pid)', async () => {
    const dir = await tempDir();
    writeFileSync(join(dir, LOCK), JSON.stringify({ pid: process.pid, hostname: hostname(), started_at: 'long ago', command: 'evalrun run old.yaml' }));
    const notices: string[] = [];
    const lock = await RunLock.acquire(dir, { onTakeover: (m) => notices.push(m) });
    expect(notices[0]).toContain(`left by pid ${process.pid} ('evalrun run old.yaml'`);
    await lock.release();
  });
});
