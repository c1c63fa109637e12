/** Synthetic records and manifests, for record/report tests that need a run directory without running anything. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManifestCell, RunManifest } from '../../src/record/manifest.js';
import type { ChoiceRecord, RequestRecord } from '../../src/record/types.js';

export function makeChoice(index: number, overrides: Partial<ChoiceRecord> = {}): ChoiceRecord {
  return {
    index,
    finish_reason: 'stop',
    content: `answer ${index}`,
    refusal: null,
    tool_calls: null,
    json_valid: null,
    schema_valid: null,
    schema_errors: [],
    ...overrides,
  };
}

export function makeRecord(seq: number, overrides: Partial<RequestRecord> = {}): RequestRecord {
  return {
    v: 1,
    seq,
    cell: 'cell',
    row_id: `r${seq}`,
    attempts: 1,
    latency_ms: 100,
    elapsed_ms: 100,
    started_at: '2025-01-01T00:00:00.000Z',
    http_status: 200,
    request_id: `req_${seq}`,
    completion_id: `chatcmpl-${seq}`,
    model: 'gpt-4o-mini-2024-07-18',
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    choices: [makeChoice(0)],
    error: null,
    ...overrides,
  };
}

export function failedRecord(seq: number, overrides: Partial<RequestRecord> = {}): RequestRecord {
  return makeRecord(seq, {
    http_status: 500,
    request_id: null,
    completion_id: null,
    model: null,
    usage: null,
    choices: [],
    error: { kind: 'http', status: 500, type: 'server_error', code: null, message: 'The server had an error' },
    attempts: 3,
    ...overrides,
  });
}

export function makeCell(id: string, params: Record<string, unknown>, overrides: Partial<ManifestCell> = {}): ManifestCell {
  const n = typeof params['n'] === 'number' ? params['n'] : 1;
  return { id, params, n, json_mode: false, ...overrides };
}

export function makeManifest(cells: ManifestCell[], rows: number, overrides: Partial<RunManifest> = {}): RunManifest {
  return {
    format: 'evalrun-run/1',
    name: 'synthetic',
    config_file: '/nonexistent/evalrun.yaml',
    run_hash: '0000000000000000',
    config_hash: '0000000000000000',
    dataset_hash: '0000000000000000',
    status: 'complete',
    started_at: '2025-01-01T00:00:00.000Z',
    ended_at: '2025-01-01T00:01:00.000Z',
    exit_code: 0,
    versions: { evalrun: '0.0.0', node: process.versions.node, openai_sdk: '0.0.0' },
    provider: { kind: 'simulator', base_url: 'http://127.0.0.1:1/v1' },
    plan: { rows, requests: rows * cells.length, choices: rows * cells.reduce((s, c) => s + c.n, 0), cells },
    sessions: [],
    schema_file: null,
    ...overrides,
  };
}

export const jsonl = (records: RequestRecord[]) => records.map((r) => `${JSON.stringify(r)}\n`).join('');

/** A run directory holding run.json and records.jsonl (in the order given). */
export async function writeRunDir(dir: string, manifest: RunManifest, records: RequestRecord[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'run.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(join(dir, 'records.jsonl'), jsonl(records));
}
