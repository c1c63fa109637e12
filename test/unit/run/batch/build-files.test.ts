import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EvalrunError, ExitCode } from '../../../../src/errors.js';
import type { Task } from '../../../../src/contracts/plan.js';
import { buildBatchFiles, customIdOf, diskSink, memorySink, parseCustomId, seqOfCustomId, type BuiltFile, type LineSink } from '../../../../src/run/batch/build-files.js';
import { expectSpecValid, specValidator } from '../../simulator/spec.js';
import { cell, plan, task } from './tasks.js';

const validateInputLine = specValidator('BatchRequestInputChatCompletions');

async function collect<R>(gen: AsyncIterable<BuiltFile<R>>): Promise<BuiltFile<R>[]> {
  const out: BuiltFile<R>[] = [];
  for await (const f of gen) out.push(f);
  return out;
}

describe('buildBatchFiles', () => {
  it('writes one model per file, at most maxRequests lines, each plan request exactly once as seq-<n>', async () => {
    const cells = [cell(0, 'gpt-4o-mini'), cell(1, 'gpt-4o'), cell(2, 'gpt-4o-mini')];
    const files = await collect(buildBatchFiles(plan(7, cells), { maxRequests: 5, open: () => memorySink() }));
    const seen = new Map<string, number>();
    for (const [i, f] of files.entries()) {
      expect(f.part).toBe(i + 1);
      expect(f.requests).toBeLessThanOrEqual(5);
      const lines = f.result.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { custom_id: string; body: { model: string } });
      expect(lines).toHaveLength(f.requests);
      expect(Buffer.byteLength(f.result)).toBe(f.bytes);
      for (const l of lines) {
        expectSpecValid(validateInputLine, l);
        expect(l.body.model).toBe(f.model);
        seen.set(l.custom_id, (seen.get(l.custom_id) ?? 0) + 1);
      }
      expect(lines.map((l) => l.custom_id)).toEqual(f.seqs.map((seq) => customIdOf(seq)));
      expect(f.seqs).toEqual([...f.seqs].sort((a, b) => a - b));
    }
    expect([...seen.keys()].sort()).toEqual(Array.from({ length: 21 }, (_, s) => `seq-${s}`).sort());
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    // 14 gpt-4o-mini requests → 5 + 5 + 4, 7 gpt-4o requests → 5 + 2.
    expect(files.map((f) => [f.model, f.requests]).sort()).toEqual([['gpt-4o', 2], ['gpt-4o', 5], ['gpt-4o-mini', 4], ['gpt-4o-mini', 5], ['gpt-4o-mini', 5]]);
  });

  it('cuts a file before it would exceed maxBytes', async () => {
    const one = Buffer.byteLength(`${JSON.stringify({ custom_id: 'seq-0', method: 'POST', url: '/v1/chat/completions', body: task(0, cell(0, 'm')).body })}\n`);
    const files = await collect(buildBatchFiles(plan(10, [cell(0, 'm')], () => 'Say hello 0.'), { maxBytes: one * 3 + 5, open: () => memorySink() }));
    expect(files.map((f) => f.requests)).toEqual([3, 3, 3, 1]);
    for (const f of files) expect(f.bytes).toBeLessThanOrEqual(one * 3 + 5);
  });

  it('streams: pulls tasks only as lines are written and holds at most one file of lines per model', async () => {
    let pulled = 0;
    async function* lazy(): AsyncGenerator<Task> {
      for (const t of plan(100, [cell(0, 'gpt-4o-mini'), cell(1, 'gpt-4o')])) {
        pulled++;
        yield t;
      }
    }
    let live = 0;
    let maxLive = 0;
    let maxHeld = 0;
    const countingSink = (): LineSink<number> => {
      let held = 0;
      live++;
      maxLive = Math.max(maxLive, live);
      return {
        write: () => {
          held++;
          maxHeld = Math.max(maxHeld, held);
        },
        end: async () => {
          live--;
          return held;
        },
      };
    };
    const gen = buildBatchFiles(lazy(), { maxRequests: 10, open: countingSink });
    const first = await gen.next();
    expect(first.done).toBe(false);
    // The first file is done when its model's 11th request arrives: 21 or 22 tasks in, not the plan's 200.
    expect(pulled).toBeLessThanOrEqual(22);
    const rest = await collect(gen);
    expect(pulled).toBe(200);
    expect(rest.length + 1).toBe(20);
    expect(maxHeld).toBe(10);
    expect(maxLive).toBe(2);
    expect(live).toBe(0);
  });

  it('writes files to disk with backpressure and gives their paths', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'evalrun-batch-'));
    try {
      const files = await collect(buildBatchFiles(plan(5, [cell(0, 'gpt-4o-mini')]), { maxRequests: 3, open: (model) => diskSink(dir, `${model}-${Math.random().toString(16).slice(2)}`) }));
      expect(files).toHaveLength(2);
      const text = await readFile(files[0]!.result, 'utf8');
      expect(text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)).toEqual(['seq-0', 'seq-1', 'seq-2']);
      expect(Buffer.byteLength(text)).toBe(files[0]!.bytes);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a request too large for any batch file, naming it', async () => {
    const big = task(3, cell(0, 'gpt-4o-mini'), 'x'.repeat(500));
    const err = await collect(buildBatchFiles([big], { maxBytes: 200, open: () => memorySink() })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EvalrunError);
    expect((err as EvalrunError).exitCode).toBe(ExitCode.Data);
    expect((err as Error).message).toMatch(/Request 3 \(row 'r3', cell gpt-4o-mini\/c0\).*more than a batch file may hold \(200 bytes\)/);
  });
});

describe('custom_id', () => {
  it('maps seq to seq-<n> and back, and refuses ids evalrun never sends', () => {
    expect(customIdOf(42)).toBe('seq-42');
    expect(seqOfCustomId('seq-42')).toBe(42);
    expect(seqOfCustomId('seq-0')).toBe(0);
    // n_mode repeat: request k of the set of seq n.
    expect(parseCustomId(customIdOf(42, 2))).toEqual({ seq: 42, k: 2 });
    expect(parseCustomId('seq-42')).toEqual({ seq: 42, k: undefined });
    for (const bad of ['seq-042', 'seq--1', 'seq-1.05', 'seq-1.', 'seq-1.1234', 'request-1', 'seq-', 7, null, 'seq-99999999999999999999']) expect(seqOfCustomId(bad), String(bad)).toBeUndefined();
  });
});
