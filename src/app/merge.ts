import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { join, resolve as resolvePath } from 'node:path';
import { ExitCode, MergeError, OutputError, UsageError } from '../errors.js';
import { shardName } from '../plan/index.js';
import { ReportPass } from '../report/index.js';
import { canonicalJson } from '../util/canonical-json.js';
import { versions } from '../util/version.js';
import { MANIFEST, RECORDS, readManifest, writeManifest, type MergeProvenance, type RunManifest } from '../record/index.js';
import { indexJournal, recordsInOrder } from '../record/index.js';
import type { Summary } from '../contracts/summary.js';
import { JUDGMENTS } from './judging.js';

export interface MergeOptions {
  /** The shards' run directories, in any order. */
  dirs: string[];
  /** The merged run directory: new or empty. */
  out: string;
  /** Merge what is there when shards are missing or unfinished, and mark every output as partial. */
  partial?: boolean | undefined;
}

export interface MergeResult {
  dir: string;
  manifest: RunManifest;
  summary: Summary;
  exitCode: ExitCode;
}

interface Shard {
  dir: string;
  m: RunManifest & { shard: NonNullable<RunManifest['shard']> };
}

/**
 * `evalrun merge`: the shards' records joined into one run directory, which is then reported like any run. The
 * shards are checked from their run.json first (nothing is written when one is refused); then each shard's
 * records.jsonl is read in plan order and appended, shard after shard. A shard's requests are one contiguous range
 * of seqs (src/plan/shard.ts), so this is a k-way merge by seq that never holds more than one shard's offset index
 * and a few read blocks, whatever the run's size; a journal written out of order (requests finish out of order, a
 * resume appends the holes) is put back in order through that index. Only run.json and records.jsonl of the shards
 * are read, so shards made by any executor that writes them (the Batch API mode, resumed runs) merge alike.
 */
export async function mergeRuns(options: MergeOptions): Promise<MergeResult> {
  if (options.dirs.length === 0) throw new UsageError('merge needs the shards\' run directories: evalrun merge DIR… --out DIR');
  const out = resolvePath(options.out);
  const shards: Shard[] = [];
  for (const dir of options.dirs) {
    let m: RunManifest;
    try {
      m = await readManifest(dir);
    } catch (e) {
      throw new MergeError(`cannot merge ${dir}: ${(e as Error).message}`, 'EVALRUN_MERGE_NOT_A_SHARD');
    }
    if (!m.shard) {
      throw new MergeError(`cannot merge ${dir}: it is not a shard (its run.json has no 'shard'); merge only directories written by evalrun run --shard I/K`, 'EVALRUN_MERGE_NOT_A_SHARD');
    }
    if (resolvePath(dir) === out) throw new UsageError(`--out ${options.out} is one of the shards; write the merge to a new directory`);
    shards.push({ dir, m: m as Shard['m'] });
  }
  const ref = shards[0]!;
  const at = (s: Shard) => `${s.dir} (shard ${shardName(s.m.shard)})`;
  for (const s of shards.slice(1)) {
    if (s.m.shard.count !== ref.m.shard.count || s.m.plan_fingerprint !== ref.m.plan_fingerprint) {
      const why = s.m.shard.count !== ref.m.shard.count ? `it is one of ${s.m.shard.count} shards, ${at(ref)} one of ${ref.m.shard.count}` : `plan fingerprint ${s.m.plan_fingerprint} ≠ ${ref.m.plan_fingerprint}`;
      throw new MergeError(
        `cannot merge ${at(s)} with ${at(ref)}: they are shards of different plans (${why}). The config, the datasets or the evalrun version that shaped their requests differ; run every shard from the same commit with the same --shard I/K count.`,
        'EVALRUN_MERGE_PLAN_MISMATCH',
      );
    }
    if (canonicalJson(s.m.evaluation ?? null) !== canonicalJson(ref.m.evaluation ?? null)) {
      throw new MergeError(
        `cannot merge ${at(s)} with ${at(ref)}: they were judged with different gates, comparison or prices; run every shard from the same config`,
        'EVALRUN_MERGE_PLAN_MISMATCH',
      );
    }
  }
  const byIndex = new Map<number, Shard>();
  for (const s of shards) {
    const twice = byIndex.get(s.m.shard.index);
    if (twice) {
      throw new MergeError(`shard ${shardName(s.m.shard)} is given twice: ${twice.dir} and ${s.dir}; give each shard once`, 'EVALRUN_MERGE_DUPLICATE');
    }
    byIndex.set(s.m.shard.index, s);
  }
  const count = ref.m.shard.count;
  const missing: string[] = [];
  for (let i = 1; i <= count; i++) if (!byIndex.has(i)) missing.push(`${i}/${count}`);
  if (missing.length > 0 && !options.partial) {
    throw new MergeError(
      `shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} missing (given: ${shards.map((s) => shardName(s.m.shard)).join(', ')}): every shard's run directory is needed. Pass them all, or merge what is there with --partial.`,
      'EVALRUN_MERGE_MISSING',
    );
  }
  const ordered = [...byIndex.values()].sort((a, b) => a.m.shard.index - b.m.shard.index);
  const unfinished = new Set<Shard>();
  for (const s of ordered) {
    if (s.m.status === 'complete') continue;
    if (!options.partial) {
      const config = s.m.config_file || 'CONFIG';
      // Counted from the journal: a killed session never wrote its count into run.json.
      const recorded = await indexJournal(join(s.dir, RECORDS), s.m.shard.requests, s.m.shard.first_seq).then((i) => String(i.count), () => 'some');
      throw new MergeError(
        `${at(s)} is unfinished: status ${s.m.status}, ${recorded} of ${s.m.shard.requests} requests recorded. Finish it with evalrun run ${config} --shard ${shardName(s.m.shard)} --out ${s.dir} --resume, or merge what is there with --partial.`,
        'EVALRUN_MERGE_UNFINISHED',
      );
    }
    unfinished.add(s);
  }
  await checkEmptyOut(out);

  const merged: MergeProvenance = {
    partial: false,
    missing,
    unfinished: [],
    shards: ordered.map((s) => ({
      shard: shardName(s.m.shard),
      dir: resolvePath(s.dir),
      plan_fingerprint: s.m.plan_fingerprint ?? '',
      run_hash: s.m.run_hash,
      status: s.m.status,
      requests: s.m.shard.requests,
      recorded: 0,
      provider: s.m.provider,
      versions: s.m.versions,
    })),
  };
  const ends = ordered.map((s) => s.m.ended_at).filter((e): e is string => e !== null).sort();
  // A shard's budget was its own process's: the merged run has none.
  const { shard: _shard, exit_code: _exit, batch: _batch, budget: _budget, ...base } = ref.m;
  // Priced as a batch run (half price) only when every shard was one; their batches are listed together.
  const batch = ordered.every((s) => s.m.batch) ? { ...ref.m.batch!, parts: ordered.flatMap((s) => s.m.batch!.parts) } : undefined;
  const manifest: RunManifest = {
    ...base,
    ...(batch ? { batch } : {}),
    status: 'running',
    started_at: ordered.map((s) => s.m.started_at).sort()[0]!,
    ended_at: ends.at(-1) ?? null,
    exit_code: null,
    versions,
    sessions: ordered.flatMap((s) => s.m.sessions.map((x) => ({ ...x, shard: shardName(s.m.shard) }))),
    merged,
  };

  // A refusal found while reading (a journal that does not match its run.json) must leave nothing behind either.
  const created = !(await stat(out).then(() => true, () => false));
  await mkdir(out, { recursive: true });
  const records = tempStream(join(out, RECORDS));
  const choices = tempStream(join(out, 'choices.csv'));
  try {
    // The pass reads the manifest's plan and evaluation only; status and provenance are settled below.
    const pass = new ReportPass(manifest);
    for (const [i, s] of ordered.entries()) {
      const path = join(s.dir, RECORDS);
      // Indexed over the shard's own range: memory is one shard's share, and a record outside it is refused.
      const index = await indexJournal(path, s.m.shard.requests, s.m.shard.first_seq).catch((e: Error) => {
        throw new MergeError(`cannot merge ${at(s)}: ${e.message}`, 'EVALRUN_MERGE_CORRUPT');
      });
      if (index.count !== s.m.shard.requests && !unfinished.has(s)) {
        if (!options.partial) {
          throw new MergeError(`${at(s)} is unfinished: its run.json says complete but ${path} holds ${index.count} of its ${s.m.shard.requests} requests. Resume it with --resume, or merge what is there with --partial.`, 'EVALRUN_MERGE_UNFINISHED');
        }
        unfinished.add(s);
      }
      merged.shards[i]!.recorded = index.count;
      // Lines are gathered into writes of ~64 KiB: one await per record would cost more than the record.
      let lines = '';
      for await (const record of recordsInOrder(path, index)) {
        lines += `${JSON.stringify(record)}\n`;
        if (lines.length > 1 << 16) {
          await write(records.stream, lines);
          lines = '';
        }
        const text = pass.add(record);
        if (text) await write(choices.stream, text);
      }
      if (lines) await write(records.stream, lines);
    }
    const rest = pass.flush();
    if (rest) await write(choices.stream, rest);
    await records.done();
    await choices.done();
    // The shards' judge calls, so a regrade of the merged run reads them back instead of paying for them again.
    await mergeJudgments(out, ordered.map((s) => ({ dir: s.dir, requests: s.m.shard.requests, first: s.m.shard.first_seq })));

    merged.unfinished = ordered.filter((s) => unfinished.has(s)).map((s) => shardName(s.m.shard));
    merged.partial = missing.length > 0 || merged.unfinished.length > 0;
    manifest.status = merged.partial ? 'partial' : 'complete';
    // run.json last: a directory with one is a finished merge.
    const summary = await pass.finish(out, manifest);
    const exitCode: ExitCode = !summary.complete || summary.recorded.failed_requests > 0 || (summary.gates?.failed ?? 0) > 0 ? ExitCode.CheckFailures : ExitCode.Ok;
    manifest.exit_code = exitCode;
    await writeManifest(out, manifest);
    return { dir: out, manifest, summary, exitCode };
  } catch (e) {
    await records.discard();
    await choices.discard();
    if (created) await rm(out, { recursive: true, force: true });
    throw e;
  }
}

async function mergeJudgments(out: string, shards: ReadonlyArray<{ dir: string; requests: number; first: number }>): Promise<void> {
  const present = (await Promise.all(shards.map(async (s) => ((await stat(join(s.dir, JUDGMENTS)).catch(() => undefined)) ? s : undefined)))).filter((s) => s !== undefined);
  if (present.length === 0) return;
  const target = tempStream(join(out, JUDGMENTS));
  try {
    for (const s of present) {
      const path = join(s.dir, JUDGMENTS);
      // Whole lines only: a shard killed mid-write leaves a torn last line, which its own resume would cut.
      const { validBytes } = await indexJournal(path, s.requests, s.first).catch((e: Error) => {
        throw new MergeError(`cannot merge ${path}: ${e.message}`, 'EVALRUN_MERGE_CORRUPT');
      });
      if (validBytes === 0) continue;
      for await (const chunk of createReadStream(path, { encoding: 'utf8', end: validBytes - 1, highWaterMark: 1 << 16 })) await write(target.stream, chunk as string);
    }
    await target.done();
  } catch (e) {
    await target.discard();
    throw e;
  }
}

async function checkEmptyOut(out: string): Promise<void> {
  const entries = await readdir(out).catch(() => undefined);
  if (entries === undefined) {
    if (await stat(out).then((s) => !s.isDirectory(), () => false)) throw new OutputError(`--out ${out} is a file, not a directory`);
    return;
  }
  if (entries.includes(MANIFEST) || entries.includes(RECORDS)) {
    throw new OutputError(`${out} already holds a run; evalrun never overwrites results. Choose another --out.`, 'EVALRUN_OUT_EXISTS');
  }
  if (entries.length > 0) throw new OutputError(`${out} is not empty; choose an empty or new directory for --out`, 'EVALRUN_OUT_EXISTS');
}

/** A file written under a temporary name and renamed when done, so no reader sees half of it. */
function tempStream(path: string): { stream: WriteStream; done: () => Promise<void>; discard: () => Promise<void> } {
  const tmp = `${path}.tmp-${process.pid}`;
  const stream = createWriteStream(tmp);
  // Errors surface through write() and finished(); this keeps an error between writes from being unhandled.
  stream.on('error', () => {});
  return {
    stream,
    done: async () => {
      stream.end();
      await finished(stream);
      await rename(tmp, path);
    },
    discard: async () => {
      if (!stream.closed) await new Promise<void>((r) => stream.destroy().once('close', () => r()));
      await rm(tmp, { force: true });
    },
  };
}

async function write(stream: WriteStream, text: string): Promise<void> {
  if (stream.errored) throw stream.errored;
  if (stream.write(text)) return;
  // Both waits are cancelled once one settles: a listener left behind per drain would pile up (and Node warns).
  const done = new AbortController();
  try {
    await Promise.race([once(stream, 'drain', { signal: done.signal }), once(stream, 'error', { signal: done.signal }).then(([e]) => Promise.reject(e as Error))]);
  } finally {
    done.abort();
  }
}
