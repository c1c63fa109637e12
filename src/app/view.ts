import { existsSync } from 'node:fs';
import type { RunManifest } from '../record/index.js';
import type { InputSource, Viewer } from '../view/index.js';
import { shownPath } from '../util/shown-path.js';

/** The viewer over a run directory, with its rows' inputs from the run's dataset when it can be found. */
export async function openViewer(dir: string, port: number, env: NodeJS.ProcessEnv): Promise<{ viewer: Viewer; inputs: InputSource }> {
  const { readManifest } = await import('../record/index.js');
  const { startViewer } = await import('../view/index.js');
  const manifest = await readManifest(dir);
  const inputs = datasetInputs(manifest, env);
  return { viewer: await startViewer({ dir, port, inputs }), inputs: await inputs };
}

/**
 * The rows' input values come from the dataset the run read, found through the config run.json names: records keep
 * the input of failing requests only. A config or dataset that moved or changed is said, never fatal.
 */
async function datasetInputs(manifest: RunManifest, env: NodeJS.ProcessEnv): Promise<InputSource> {
  const file = manifest.config_file;
  if (!file) return { notice: 'the run was started from a config built in code, so its dataset is not known' };
  if (!existsSync(file)) return { notice: `the run's config ${shownPath(file)} is gone` };
  const { loadConfigFile } = await import('../config/index.js');
  const { resolveConfig } = await import('../config/index.js');
  const { hashFiles, readRows } = await import('../dataset/index.js');
  let config;
  try {
    config = resolveConfig(await loadConfigFile(file), { env });
  } catch (e) {
    return { notice: `the run's config ${shownPath(file)} no longer loads (${(e as Error).message.split('\n')[0]})` };
  }
  const missing = config.datasets.find((d) => !existsSync(d));
  if (missing) return { notice: `the dataset ${shownPath(missing)} is gone` };
  const hash = await hashFiles(config.datasets);
  const notice =
    hash === manifest.dataset_hash
      ? undefined
      : `the dataset (${config.datasets.map(shownPath).join(', ')}) changed since the run: rows are shown by position, and a row whose id is not the one answered says so`;
  return { rows: readRows(config), notice };
}
