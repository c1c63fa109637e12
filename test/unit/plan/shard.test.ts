import { describe, expect, it } from 'vitest';
import { checkShardResume, parseShard, shardRange, shardRows, shardRowsText } from '../../../src/plan/shard.js';
import { planFingerprint } from '../../../src/plan/fingerprint.js';
import { expandGrid } from '../../../src/plan/grid.js';
import { ExitCode } from '../../../src/errors.js';
import type { Row } from '../../../src/contracts/dataset.js';
import { collect, makeConfig } from '../../helpers/config.js';

const cells = [{ n: 1 }, { n: 3 }, { n: 2 }];

describe('shardRange', () => {
  it('puts every request in exactly one shard, whole rows, contiguous, sizes within one row', () => {
    for (const rows of [0, 1, 2, 5, 10, 23, 101]) {
      for (const count of [1, 2, 3, 4, 7, 10, 30]) {
        const ranges = Array.from({ length: count }, (_, i) => shardRange({ index: i + 1, count }, rows, cells));
        const owner = new Array<number>(rows * cells.length).fill(0);
        for (const r of ranges) {
          expect(r.first_seq).toBe(r.rows[0] * cells.length);
          expect(r.requests).toBe((r.rows[1] - r.rows[0]) * cells.length);
          expect(r.choices).toBe((r.rows[1] - r.rows[0]) * 6);
          for (let seq = r.first_seq; seq < r.first_seq + r.requests; seq++) owner[seq]!++;
        }
        expect(owner.every((o) => o === 1), `${rows} rows / ${count}`).toBe(true);
        // In order: shard i ends where shard i+1 starts.
        for (let i = 1; i < count; i++) expect(ranges[i]!.rows[0]).toBe(ranges[i - 1]!.rows[1]);
        const sizes = ranges.map((r) => r.rows[1] - r.rows[0]);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('is the documented formula: shard i of K takes rows ⌊(i−1)·R/K⌋ … ⌊i·R/K⌋−1', () => {
    expect([1, 2, 3].map((index) => shardRange({ index, count: 3 }, 10, cells).rows)).toEqual([[0, 3], [3, 6], [6, 10]]);
  });
});

describe('shardRowsText', () => {
  it('names rows 1-based and inclusive, and says when a shard has none', () => {
    expect(shardRowsText(shardRange({ index: 2, count: 3 }, 10, cells).rows, 10)).toBe('rows 4–6 of 10');
    expect(shardRowsText(shardRange({ index: 1, count: 7 }, 5, cells).rows, 5)).toBe('no rows (5 rows do not reach this shard)');
  });
});

describe('parseShard', () => {
  it('reads I/K and refuses anything else as a usage error', () => {
    expect(parseShard('2/5')).toEqual({ index: 2, count: 5 });
    expect(parseShard(' 1 / 1 ')).toEqual({ index: 1, count: 1 });
    for (const bad of ['0/3', '4/3', '1/0', '2', '1.5/3', 'a/b', '-1/3', '']) {
      expect(() => parseShard(bad), bad).toThrow(expect.objectContaining({ exitCode: ExitCode.Usage }));
    }
  });
});

describe('shardRows', () => {
  it("yields the shard's rows and stops reading after its last", async () => {
    let read = 0;
    async function* rows(): AsyncGenerator<Row> {
      for (let index = 0; index < 100; index++) {
        read++;
        yield { id: `r${index}`, index, vars: {}, messages: undefined, source: { file: 'x', line: index + 1 } };
      }
    }
    const range = shardRange({ index: 2, count: 10 }, 100, cells);
    expect((await collect(shardRows(rows(), range))).map((r) => r.index)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(read).toBe(21);
  });
});

describe('checkShardResume', () => {
  const one = shardRange({ index: 1, count: 3 }, 9, cells);
  const two = shardRange({ index: 2, count: 3 }, 9, cells);
  it('lets a shard resume as itself and a whole run as a whole run', () => {
    expect(() => checkShardResume('d', one, one)).not.toThrow();
    expect(() => checkShardResume('d', undefined, undefined)).not.toThrow();
  });
  it('refuses another shard, a shard without --shard, and a whole run with --shard', () => {
    expect(() => checkShardResume('d', one, two)).toThrow(/holds shard 1\/3; resume it with --shard 1\/3/);
    expect(() => checkShardResume('d', one, undefined)).toThrow(/with no --shard/);
    expect(() => checkShardResume('d', undefined, two)).toThrow(/a whole run \(no --shard\); resume it without --shard/);
  });
});

describe('planFingerprint', () => {
  const base = makeConfig({ datasets: ['/a/rows.jsonl'], params: { model: 'gpt-4o-mini', max_tokens: 20 }, grid: [{ key: 'temperature', values: [0, 1] }] });
  const fp = (over: Parameters<typeof makeConfig>[0] = {}, dataset = 'h1', rows = 10) => {
    const config = makeConfig({ ...base, ...over });
    return planFingerprint(config, expandGrid(config), dataset, rows);
  };
  it('changes with whatever shapes the requests or the records', () => {
    const ref = fp();
    expect(fp({}, 'h2')).not.toBe(ref);
    expect(fp({}, 'h1', 11)).not.toBe(ref);
    expect(fp({ params: { model: 'gpt-4o-mini', max_tokens: 21 } })).not.toBe(ref);
    expect(fp({ grid: [{ key: 'temperature', values: [0, 1.1] }] })).not.toBe(ref);
    expect(fp({ messages: [{ role: 'user', content: 'Q: {{text}}' }] })).not.toBe(ref);
    expect(fp({ seed: 3 })).not.toBe(ref);
    expect(fp({ nMode: 'repeat' })).not.toBe(ref);
    expect(fp({ idColumn: 'id' })).not.toBe(ref);
    expect(fp({ schema: { type: 'object' } })).not.toBe(ref);
    expect(fp({ checks: [{ name: 'x', type: 'contains', expected: 'a' }] })).not.toBe(ref);
    expect(fp({ datasets: ['/a/other.jsonl'] })).not.toBe(ref);
  });
  it('stays the same across machines and settings that do not change a request', () => {
    const ref = fp();
    expect(fp({ datasets: ['/home/runner/work/rows.jsonl'], dir: '/elsewhere', file: '/elsewhere/evalrun.yaml' })).toBe(ref);
    expect(fp({ concurrency: 50, retry: { maxAttempts: 9, maxWaitS: 3 }, timeoutS: 5, rateLimit: { rpm: 10, tpm: undefined, perModel: true } })).toBe(ref);
    expect(fp({ gates: [{ name: 'g', metric: 'error_rate', max: 0, cell: null, bound: 'point' }] as never, pricing: { 'gpt-4o-mini': { input: 1, output: 2 } } })).toBe(ref);
  });
});
