import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { OutputError } from '../errors.js';
import { TEMP_FILE } from '../util/atomic-write.js';
import { MANIFEST, RECORDS, readManifest, type RunManifest } from './manifest.js';
import { failedRequests, indexJournal, type JournalIndex } from './read-journal.js';
import { LOCK, RunLock } from './run-lock.js';

/** A run directory being opened: what was there before (a resumed run) and the lock held on it. */
export interface RunDirClaim {
  /** The directory the user named (`--out`), absolute; undefined: a new one under results/ is created. */
  explicit: string | undefined;
  /** run.json of the run being resumed. */
  previous: RunManifest | undefined;
  lock: RunLock | undefined;
}

export interface OpenedRunDir {
  dir: string;
  lock: RunLock;
  /** Where each recorded request is in records.jsonl (a resumed run). */
  index: JournalIndex | undefined;
  /** Requests recorded as failed that are sent again (`--retry-errors`). */
  retry: { seqs: Uint8Array; count: number } | undefined;
  /** Whether a request needs no sending: recorded, and not among those retried. */
  skip: ((seq: number) => boolean) | undefined;
}

/**
 * Checks `--out` before anything is sent: a fresh run needs an empty or new directory, a resumed one the same run
 * (by run hash). A resumed directory is locked first: another process may be writing it right now.
 */
export async function claimRunDir(options: {
  out: string | undefined;
  resume: boolean;
  runHash: string;
  onNotice?: ((message: string) => void) | undefined;
}): Promise<RunDirClaim> {
  const explicit = options.out ? resolvePath(options.out) : undefined;
  const lock = explicit && options.resume ? await lockExisting(explicit, options.onNotice) : undefined;
  try {
    const previous = explicit ? (options.resume ? await checkResumable(explicit, options.runHash) : await checkFresh(explicit)) : undefined;
    return { explicit, previous, lock };
  } catch (e) {
    await lock?.release();
    throw e;
  }
}

/**
 * Creates (or reopens) the claimed directory, locks it, and for a resumed run indexes records.jsonl and checks that
 * it lost nothing since. Every file-system refusal is an OutputError naming the directory, not a stack trace.
 */
export async function openRunDir(
  claim: RunDirClaim,
  options: { name: string; requests: number; first?: number | undefined; retryErrors: boolean; onNotice?: ((message: string) => void) | undefined },
): Promise<OpenedRunDir> {
  const dir = claim.explicit ?? (await createRunDir(join('results', `${options.name}-${timestamp()}`)));
  if (claim.explicit) await ensureDir(dir);
  let lock = claim.lock;
  if (!lock) {
    lock = await RunLock.acquire(dir, { onTakeover: options.onNotice });
    // Another fresh run may have claimed the directory between the check and the lock.
    if (claim.explicit) await checkFresh(dir).catch(async (e: unknown) => {
      await lock!.release();
      throw e;
    });
  }
  if (!claim.previous) return { dir, lock, index: undefined, retry: undefined, skip: undefined };
  // A killed session may have left a report half-written; the files are derived again at the end.
  await removeTempFiles(dir);
  const index = await indexJournal(join(dir, RECORDS), options.requests, options.first);
  await checkJournalIntact(dir, claim.previous, index.count);
  const retry = options.retryErrors ? await failedRequests(join(dir, RECORDS), index) : undefined;
  const skip = (seq: number) => index.offsets[seq]! >= 0 && !(retry?.seqs[seq] === 1);
  return { dir, lock, index, retry, skip };
}

async function checkFresh(dir: string): Promise<undefined> {
  const entries = await readdir(dir).catch(() => undefined);
  if (entries === undefined) {
    const isFile = await stat(dir).then((s) => !s.isDirectory(), () => false);
    if (isFile) throw new OutputError(`--out ${dir} is a file, not a directory`);
    return undefined;
  }
  if (entries.includes(MANIFEST) || entries.includes(RECORDS)) {
    throw new OutputError(
      `${dir} already holds a run; evalrun never overwrites results. Continue it with --resume, or choose another --out.`,
      'EVALRUN_OUT_EXISTS',
    );
  }
  // Our own lock, or a dead process's left before it wrote anything.
  if (entries.some((e) => e !== LOCK)) throw new OutputError(`${dir} is not empty; choose an empty or new directory for --out`, 'EVALRUN_OUT_EXISTS');
  return undefined;
}

async function checkResumable(dir: string, runHash: string): Promise<RunManifest> {
  const manifest = await readManifest(dir);
  if (manifest.run_hash !== runHash) {
    throw new OutputError(
      `cannot resume ${dir}: the config or the dataset changed since this run started (run hash ${manifest.run_hash}, now ${runHash}). Resuming would mix results of two different evaluations; start a new run instead (another --out).`,
      'EVALRUN_RESUME_MISMATCH',
    );
  }
  return manifest;
}

/**
 * A journal that lost records (deleted, truncated, replaced) must not be resumed: the requests it lost would be sent
 * and paid for again, and the reports rebuilt from it would drop the answers they show.
 */
async function checkJournalIntact(dir: string, previous: RunManifest, count: number): Promise<void> {
  const appended = previous.sessions.reduce((s, x) => s + x.recorded, 0);
  const shown = await recordedInSummary(dir);
  const expected = Math.max(shown ?? 0, count === 0 ? appended : 0);
  if (count < expected) {
    throw new OutputError(
      `cannot resume ${dir}: ${join(dir, RECORDS)} holds ${count} recorded requests, but ${shown !== undefined && shown >= expected ? 'summary.json shows' : 'run.json counts'} ${expected}: records were lost from it (deleted, truncated or replaced?). ` +
        `Resuming would send those requests again and pay twice. Nothing was sent or rewritten; restore records.jsonl from a backup or the CI artifact.`,
      'EVALRUN_RECORDS_LOST',
    );
  }
}

/** summary.json's count of recorded requests, if there is a readable one: what the reports last showed. */
export async function recordedInSummary(dir: string): Promise<number | undefined> {
  try {
    const s = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as { recorded?: { requests?: unknown } };
    const n = s.recorded?.requests;
    return typeof n === 'number' ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Locks a directory that should hold a run; a missing one is left for checkResumable to explain. */
async function lockExisting(dir: string, onNotice: ((message: string) => void) | undefined): Promise<RunLock | undefined> {
  const isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
  return isDir ? RunLock.acquire(dir, { onTakeover: onNotice }) : undefined;
}

async function removeTempFiles(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (TEMP_FILE.test(name)) await rm(join(dir, name), { force: true });
  }
}

/** `mkdir -p`, with the system's refusal (a file in the way, no permission, a read-only or full disk) said plainly. */
async function ensureDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw cannotCreate(dir, e);
  }
}

/**
 * Creates the default run directory. mkdir without `recursive` fails if the directory exists, so two runs started in
 * the same second cannot both claim it: the second gets `-2`, the next `-3`, …
 */
async function createRunDir(base: string): Promise<string> {
  await ensureDir(dirname(resolvePath(base)));
  for (let i = 1; ; i++) {
    const dir = resolvePath(i === 1 ? base : `${base}-${i}`);
    try {
      await mkdir(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw cannotCreate(dir, e);
    }
  }
}

function cannotCreate(dir: string, e: unknown): OutputError {
  const code = (e as NodeJS.ErrnoException).code ?? 'error';
  const why: Record<string, string> = {
    ENOTDIR: 'a part of the path is a file, not a directory',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EROFS: 'the file system is read-only',
    ENOSPC: 'the disk is full',
    EEXIST: 'a file of that name is in the way',
  };
  return new OutputError(`cannot create the run directory ${dir}: ${why[code] ?? (e as Error).message} (${code}); choose another --out`, 'EVALRUN_OUT_UNUSABLE');
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}
