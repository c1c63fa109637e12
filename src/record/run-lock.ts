import { readFileSync, unlinkSync } from 'node:fs';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { OutputError, RunLockedError } from '../errors.js';

export const LOCK = 'run.lock';

/** What `run.lock` holds: enough to tell whether its owner still lives, and for the user to find it. */
export interface LockInfo {
  pid: number;
  hostname: string;
  started_at: string;
  command: string;
}

/**
 * Lock files this process holds. A lock naming our own pid that is not among them was left by an earlier process
 * that had the same pid (pids are reused, in containers soon): it is abandoned, not ours.
 */
const held = new Set<string>();

/** A lock file that cannot be read yet may be one being written this instant: only older ones count as abandoned. */
const UNREADABLE_GRACE_MS = 2000;

function describe(info: LockInfo): string {
  return `pid ${info.pid} on ${info.hostname}, '${info.command}', since ${info.started_at}`;
}

function parseLock(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (typeof v.pid === 'number' && typeof v.hostname === 'string') {
      return { pid: v.pid, hostname: v.hostname, started_at: String(v.started_at ?? '?'), command: String(v.command ?? '?') };
    }
  } catch {
    // Not JSON (yet): the caller decides by the file's age.
  }
  return undefined;
}

/** process.kill(pid, 0) checks existence without signalling; EPERM means it exists but belongs to someone else. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function commandLine(): string {
  const [script, ...args] = process.argv.slice(1);
  return [script ? basename(script).replace(/^bin\.js$/, 'evalrun') : 'node', ...args].join(' ');
}

/**
 * One writer per run directory. Two processes on one directory would both send the requests not yet recorded (paid
 * twice) and remove each other's half-written reports. The lock is a file created with O_EXCL; a lock whose process
 * is gone (same host, pid not alive: a kill -9, a lost terminal) is taken over, and the caller is told so.
 */
export class RunLock {
  readonly path: string;
  private readonly info: LockInfo;
  private released = false;

  private constructor(path: string, info: LockInfo) {
    this.path = path;
    this.info = info;
  }

  static async acquire(dir: string, options: { onTakeover?: ((message: string) => void) | undefined } = {}): Promise<RunLock> {
    const path = join(dir, LOCK);
    const info: LockInfo = { pid: process.pid, hostname: hostname(), started_at: new Date().toISOString(), command: commandLine() };
    const text = `${JSON.stringify(info, null, 2)}\n`;
    for (let attempt = 0; ; attempt++) {
      try {
        const fh = await open(path, 'wx');
        try {
          await fh.writeFile(text, 'utf8');
        } finally {
          await fh.close();
        }
        held.add(path);
        return new RunLock(path, info);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST') {
          // A read-only copy of a run (a CI artifact), or a directory that is not ours.
          throw new OutputError(`cannot lock ${dir} for writing (${code ?? (e as Error).message}): evalrun writes ${LOCK} and the reports there; use a writable copy of the run directory`, 'EVALRUN_RUN_DIR_NOT_WRITABLE');
        }
      }
      if (attempt >= 50) throw new RunLockedError(`${dir} is in use by another evalrun process (${path} keeps changing hands); try again later.`);
      const found = await RunLock.inspect(path);
      if (found === undefined) continue; // released meanwhile: try again
      if (found.state === 'young') {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (found.state === 'live') {
        throw new RunLockedError(
          `${dir} is in use by another evalrun process (${describe(found.info)}). Two processes on one run directory would send ` +
            `requests twice. Wait for it to finish or stop it, then run again. If no evalrun process is working there any more, delete ${path}.`,
        );
      }
      // Abandoned. Remove it only if it is still the file just judged: another process may have taken over first.
      const now = await readFile(path, 'utf8').catch(() => undefined);
      if (now !== found.text) continue;
      await unlink(path).catch(() => undefined);
      options.onTakeover?.(
        found.info
          ? `Taking over ${path}: it was left by pid ${found.info.pid} ('${found.info.command}', since ${found.info.started_at}), which is no longer running.`
          : `Taking over ${path}: it is unreadable and more than ${UNREADABLE_GRACE_MS / 1000} s old (a process died while creating it).`,
      );
    }
  }

  /** The lock's state as another process sees it; undefined when there is no lock. */
  private static async inspect(path: string): Promise<
    | { state: 'live'; info: LockInfo; text: string }
    | { state: 'stale'; info: LockInfo | undefined; text: string }
    | { state: 'young' }
    | undefined
  > {
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    const info = parseLock(text);
    if (!info) {
      const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => Infinity);
      return age < UNREADABLE_GRACE_MS ? { state: 'young' } : { state: 'stale', info: undefined, text };
    }
    // On another host the pid says nothing here: only the user can tell whether that process still runs.
    const ours = info.pid === process.pid && info.hostname === hostname();
    if (ours ? held.has(path) : info.hostname !== hostname() || alive(info.pid)) return { state: 'live', info, text };
    return { state: 'stale', info, text };
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    held.delete(this.path);
    if (this.stillMine()) await unlink(this.path).catch(() => undefined);
  }

  /** For a process about to exit at once (a second Ctrl-C). */
  releaseSync(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this.path);
    try {
      if (this.stillMine()) unlinkSync(this.path);
    } catch {
      // Going down anyway: the next process finds a dead pid's lock and takes it over.
    }
  }

  private stillMine(): boolean {
    try {
      const info = parseLock(readFileSync(this.path, 'utf8'));
      return info?.pid === this.info.pid && info.hostname === this.info.hostname && info.started_at === this.info.started_at;
    } catch {
      return false;
    }
  }
}
