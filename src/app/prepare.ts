import { join, resolve as resolvePath } from 'node:path';
import { loadConfigFile, parseConfigText } from '../config/index.js';
import { resolveConfig, type ResolveOptions } from '../config/index.js';
import type { ConfigFile } from '../contracts/config.js';
import { scanDatasets } from '../dataset/index.js';
import { expandGrid } from '../plan/index.js';
import { summarizePlan } from '../plan/index.js';
import { sha256 } from '../util/canonical-json.js';
import { ScriptChecks } from '../check/index.js';
import type { Config } from '../contracts/config.js';
import { ConfigError } from '../errors.js';

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


/**
 * The config's script checks in their worker pool, each module loaded and its export found, or undefined without
 * script checks. A module that does not load or lacks its export is a config error at its line (exit 3), before
 * anything is sent.
 */
export async function openScriptChecks(config: Config): Promise<ScriptChecks | undefined> {
  const specs = (config.checks ?? []).filter((c) => c.type === 'script');
  if (specs.length === 0) return undefined;
  const scripts = new ScriptChecks(specs);
  const problems = await scripts.probe().catch(async (e: unknown) => {
    await scripts.close();
    throw e;
  });
  if (problems.length === 0) return scripts;
  await scripts.close();
  throw new ConfigError(
    problems.map((p) => {
      const at = config.scriptSources?.[p.check]?.[p.key];
      return { file: at?.file ?? config.file, line: at?.line ?? 0, col: at?.col ?? 0, path: at?.path ?? `checks.${p.check}`, message: `script check '${p.check}': ${p.message}` };
    }),
  );
}
