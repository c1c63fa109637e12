import type { Config } from '../contracts/config.js';
import { ExitCode } from '../errors.js';
import type { Cell } from '../contracts/plan.js';
import type { PlanSummary } from '../plan/index.js';
import { planFingerprint } from '../plan/index.js';
import type { ShardRange } from '../plan/index.js';
import { evaluationOf } from '../contracts/evaluation.js';
import type { RunManifest, RunStatus } from '../record/index.js';
import type { Summary } from '../contracts/summary.js';
import { versions } from '../util/version.js';
import { canonicalJson, sha256 } from '../util/canonical-json.js';

/**
 * run.json for this session: a fresh run's whole manifest, or the resumed run's with a new session. Gates,
 * comparison and prices are taken from the config each session: they judge the records, they do not produce them.
 */
export function startManifest(p: {
  previous: RunManifest | undefined;
  config: Config;
  cells: readonly Cell[];
  plan: PlanSummary;
  datasetHash: string;
  runHash: string;
  provider: { kind: string; shownBaseUrl: string };
  shard: ShardRange | undefined;
}): RunManifest {
  const now = new Date().toISOString();
  const { config, cells, plan } = p;
  const provider = { kind: p.provider.kind, base_url: p.provider.shownBaseUrl } as RunManifest['provider'];
  const manifest: RunManifest = p.previous
    ? { ...p.previous, status: 'running', ended_at: null, exit_code: null, provider }
    : {
        format: 'evalrun-run/1',
        name: config.name,
        config_file: config.file,
        run_hash: p.runHash,
        config_hash: config.hash,
        dataset_hash: p.datasetHash,
        prompt_hash: promptHash(config),
        status: 'running',
        started_at: now,
        ended_at: null,
        exit_code: null,
        versions,
        provider,
        plan: { rows: plan.rows, requests: plan.requests, choices: plan.choices, cells: cells.map((c) => ({ id: c.id, params: c.params, ...(c.prompt !== undefined ? { prompt: c.prompt } : {}), n: c.n, json_mode: c.jsonMode })) },
        ...(config.prompts ? { prompts: Object.fromEntries(config.prompts.map((v) => [v.name, v.messages])) } : {}),
        request: requestShape(config),
        sessions: [],
        schema_file: config.schemaFile ?? null,
        plan_fingerprint: planFingerprint(config, cells, p.datasetHash, plan.rows),
        ...(p.shard ? { shard: p.shard } : {}),
      };
  manifest.sessions = [...manifest.sessions, { started_at: now, ended_at: null, status: 'running', recorded: 0 }];
  manifest.evaluation = evaluationOf(config);
  return manifest;
}

/** The prompt text sent (the template, or every variant's): `evalrun history` tells a prompt edit from other config edits. */
function promptHash(config: Config): string {
  const prompts = config.prompts ? config.prompts.map((v) => [v.name, v.messages]) : (config.messages ?? null);
  return sha256(canonicalJson(prompts)).slice(0, 16);
}

/** The run's exit code: the API's refusal, an interruption, or whether everything was recorded, answered and passed. */
export function exitCodeOf(status: RunStatus, summary: Summary): ExitCode {
  if (status === 'stopped') return ExitCode.Api;
  if (status === 'interrupted') return ExitCode.Interrupted;
  const failed = !summary.complete || summary.recorded.failed_requests > 0 || (summary.gates?.failed ?? 0) > 0;
  return failed ? ExitCode.CheckFailures : ExitCode.Ok;
}

/** run.json's `request`: what `evalrun regrade` compares beside the cells and the prompt variants. */
export function requestShape(config: Config): NonNullable<RunManifest['request']> {
  return { messages: config.messages ?? null, id_column: config.idColumn ?? null, n_mode: config.nMode === 'repeat' ? 'repeat' : 'native' };
}
