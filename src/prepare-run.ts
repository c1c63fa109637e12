import { join, resolve as resolvePath } from 'node:path';
import { loadConfigFile, parseConfigText } from './config/load.js';
import { resolveConfig, type ResolveOptions } from './config/resolve.js';
import type { ConfigFile } from './contracts/config.js';
import { scanDatasets } from './dataset/load.js';
import { expandGrid } from './plan/grid.js';
import { summarizePlan } from './plan/build-plan.js';
import { sha256 } from './util/canonical-json.js';

export interface PrepareOptions extends ResolveOptions {
  /** A path to a YAML config, or the config itself (paths in it relative to `baseDir`). */
  config: string | ConfigFile;
  baseDir?: string | undefined;
}

/** Everything before the first request: config, datasets and the grid, all checked. Throws on bad input. */
export async function prepareRun(options: PrepareOptions) {
  const loaded =
    typeof options.config === 'string'
      ? await loadConfigFile(options.config)
      : { ...parseConfigText(JSON.stringify(options.config), join(resolvePath(options.baseDir ?? '.'), 'evalrun.yaml')) };
  const config = resolveConfig(loaded, options);
  const scan = await scanDatasets(config);
  const cells = expandGrid(config);
  const plan = summarizePlan(scan.rows, cells);
  const runHash = sha256(`${config.hash}:${scan.hash}`).slice(0, 16);
  return { config, cells, plan, datasetHash: scan.hash, runHash };
}

