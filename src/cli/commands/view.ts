import type { CommandModule } from 'yargs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandContext } from '../main.js';
import type { RunManifest } from '../../record/index.js';
import type { InputSource, Viewer } from '../../view/index.js';
import { VIEW_DEFAULT_PORT } from '../../contracts/view.js';
import { shownPath } from '../../util/shown-path.js';

interface ViewArgs {
  dir: string;
  port?: number | undefined;
}

export function viewCommand(ctx: CommandContext): CommandModule<object, ViewArgs> {
  return {
    command: 'view <dir>',
    describe: "Look at a run's answers in the browser: every cell's choices for a row side by side, with filters and diffs (on 127.0.0.1 only; read-only)",
    builder: (y) =>
      y
        .positional('dir', { type: 'string', demandOption: true, describe: 'A run directory' })
        .option('port', { type: 'number', default: VIEW_DEFAULT_PORT, describe: `Port on 127.0.0.1 (0: any free port); report.html links to ${VIEW_DEFAULT_PORT}` }),
    handler: async (args) => {
      const { viewer, inputs } = await openViewer(args.dir, args.port ?? VIEW_DEFAULT_PORT, ctx.io.env);
      const report = existsSync(join(args.dir, 'report.html')) ? `; its report: ${viewer.url}report.html` : '';
      ctx.io.out(`evalrun view: ${shownPath(args.dir)} at ${viewer.url}${report}\nCtrl-C stops it.\n`);
      if (inputs.notice) ctx.io.err(`Inputs: ${inputs.notice}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => void viewer.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    },
  };
}

/** The viewer over a run directory, with its rows' inputs from the run's dataset when it can be found. */
export async function openViewer(dir: string, port: number, env: NodeJS.ProcessEnv): Promise<{ viewer: Viewer; inputs: InputSource }> {
  const { readManifest } = await import('../../record/index.js');
  const { startViewer } = await import('../../view/index.js');
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
  const { loadConfigFile } = await import('../../config/load.js');
  const { resolveConfig } = await import('../../config/resolve.js');
  const { hashFiles, readRows } = await import('../../dataset/load.js');
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
