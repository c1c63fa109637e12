/** Helpers of the batch-mode e2e tests: the config, rows, what a run directory holds, and a CLI child process. */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import type { RunningSimulator } from '../../src/simulator/index.js';
import type { RunManifest } from '../../src/record/manifest.js';
import { BIN } from './cli.js';

export const config = (extra = '') => `name: batched
dataset: rows.jsonl
id_column: id
messages:
  - { role: system, content: "Reply with a json object with a label." }
  - { role: user, content: "{{text}}" }
params: { max_tokens: 40, response_format: { type: json_object } }
grid: { model: [gpt-4o-mini, gpt-4.1-mini], temperature: [0, 1] }
retry: { max_attempts: 3, max_wait_s: 0.05 }
${extra}`;


export function rows(n: number): string {
  return `${Array.from({ length: n }, (_, i) => JSON.stringify({ id: `r${i}`, text: `item ${i}` })).join('\n')}\n`;
}


const TIMING = /latency|^started_at$|^ended_at$|^request_id$|^elapsed_ms$|^completion_id$/;

/** choices.csv without timing and id columns. */
export async function choices(dir: string): Promise<string[][]> {
  const [header, ...body] = parse(await readFile(join(dir, 'choices.csv'), 'utf8'), { bom: true }) as string[][];
  const keep = header!.map((h, i) => (TIMING.test(h) ? -1 : i)).filter((i) => i >= 0);
  return [header!, ...body].map((r) => keep.map((i) => r[i]!));
}

export interface BatchRunRecord {
  seq: number;
  latency_ms: number | null;
  attempts: number;
  cached?: boolean;
  batch_id?: string;
  error: { message: string; status: number | null; kind?: string; code?: string | null } | null;
}

export async function records(dir: string): Promise<BatchRunRecord[]> {
  const text = await readFile(join(dir, 'records.jsonl'), 'utf8');
  return text.split('\n').filter((l) => l.endsWith('}')).map((l) => JSON.parse(l));
}

export const manifest = async (dir: string) => JSON.parse(await readFile(join(dir, 'run.json'), 'utf8')) as RunManifest;

/** The latest record of each seq. */
export async function latest(dir: string) {
  const by = new Map<number, Awaited<ReturnType<typeof records>>[number]>();
  for (const r of await records(dir)) by.set(r.seq, r);
  return by;
}


/** Starts the CLI in a child process; resolves its exit once it ends. */
export function spawnRun(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.resume();
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  /** Resolves once stderr matches `re`; fails if the process ends first. */
  const until = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!re.test(stderr)) return;
        child.stderr.off('data', check);
        resolve();
      };
      child.stderr.on('data', check);
      void closed.then(() => (re.test(stderr) ? resolve() : reject(new Error(`the run ended without printing ${re}:\n${stderr}`))));
      check();
    });
  return { child, closed, until, stderr: () => stderr };
}

export async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('timed out');
}

/** The batches the provider holds, as its list endpoint shows them. */
export async function providerBatches(s: RunningSimulator): Promise<Array<{ id: string; status: string; request_counts: { completed: number } }>> {
  const res = await fetch(`${s.url}/batches?limit=100`);
  return ((await res.json()) as { data: Array<{ id: string; status: string; request_counts: { completed: number } }> }).data;
}
