import { UsageError } from '../errors.js';
import { readManifest, type RunManifest } from '../record/index.js';
import { runSession, type RunReporter, type RunResult } from './run.js';

export type BatchRun = RunManifest & { batch: NonNullable<RunManifest['batch']> };

/** run.json of a Batch API run; anything else has nothing to cancel. */
export async function readBatchRun(dir: string): Promise<BatchRun> {
  const manifest = await readManifest(dir);
  if (!manifest.batch) throw new UsageError(`${dir} is not a Batch API run (run.json has no batches): there is nothing to cancel.`);
  return manifest as BatchRun;
}

export interface CancelOptions {
  /** The run's config file (default: the one run.json names). */
  config?: string | undefined;
  /** Also forget live batches the server answers 404 for. */
  abandon?: boolean | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  reporter?: RunReporter | undefined;
}

/**
 * The run's live batches are cancelled at the provider, waited for until they say cancelled, and what they had
 * finished is recorded and reported (paid for, so never thrown away). The run stays resumable.
 */
export function cancelBatches(dir: string, manifest: BatchRun, options: CancelOptions): Promise<RunResult> {
  return runSession(
    {
      config: options.config ?? manifest.config_file,
      out: dir,
      resume: true,
      shard: manifest.shard ? { index: manifest.shard.index, count: manifest.shard.count } : undefined,
      env: options.env,
      reporter: options.reporter,
    },
    { abandon: options.abandon === true },
  );
}
