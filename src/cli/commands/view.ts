import type { CommandModule } from 'yargs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandContext } from '../main.js';
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
      const { openViewer } = await import('../../app/view.js');
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
