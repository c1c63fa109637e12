import type { CommandModule } from 'yargs';
import type { CommandContext } from '../main.js';

interface PlanArgs {
  config: string;
  json?: boolean | undefined;
}

export function planCommand(ctx: CommandContext): CommandModule<object, PlanArgs> {
  return {
    command: 'plan <config>',
    describe: 'Check the config and datasets and show what a run would send, without sending anything',
    builder: (y) =>
      y
        .positional('config', { type: 'string', demandOption: true, describe: 'The YAML config file' })
        .option('json', { type: 'boolean', describe: 'Print the plan as JSON' }),
    handler: async (args) => {
      const { prepareRun } = await import('../../prepare-run.js');
      const { plan, config } = await prepareRun({ config: args.config });
      if (args.json) {
        ctx.io.out(`${JSON.stringify({ name: config.name, ...plan }, null, 2)}\n`);
        return;
      }
      const width = Math.max(4, ...plan.cells.map((c) => c.id.length));
      const lines = [
        `${config.name}: ${plan.rows} rows × ${plan.cells.length} cells`,
        '',
        `${'cell'.padEnd(width)}  ${'n'.padStart(3)}  ${'requests'.padStart(9)}  ${'choices'.padStart(9)}`,
        ...plan.cells.map((c) => `${c.id.padEnd(width)}  ${String(c.n).padStart(3)}  ${String(c.requests).padStart(9)}  ${String(c.choices).padStart(9)}`),
        '',
        `total: ${plan.requests} requests, ${plan.choices} choices (nothing was sent)`,
      ];
      ctx.io.out(`${lines.join('\n')}\n`);
    },
  };
}
