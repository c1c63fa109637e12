import type { CommandModule } from 'yargs';
import { readFile } from 'node:fs/promises';
import { ConfigError, UsageError } from '../../errors.js';
import type { CommandContext } from '../main.js';

interface SimulateArgs {
  port?: number | undefined;
  host?: string | undefined;
  seed?: number | undefined;
  schema?: string | undefined;
  options?: string | undefined;
}

export function simulateCommand(ctx: CommandContext): CommandModule<object, SimulateArgs> {
  return {
    command: 'simulate',
    describe: 'Serve the built-in OpenAI-compatible simulator (POST /v1/chat/completions, GET /v1/models)',
    builder: (y) =>
      y
        .option('port', { type: 'number', default: 8080, describe: 'Port to listen on (0: any free port)' })
        .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on' })
        .option('seed', { type: 'number', default: 0, describe: 'Seed: the same requests get the same answers' })
        .option('schema', { type: 'string', describe: 'A JSON Schema file the simulated JSON answers aim at' })
        .option('options', { type: 'string', describe: 'A JSON file of further simulator options (latency, faults, rpm, tpm)' }),
    handler: async (args) => {
      const readJson = async (file: string, what: string) => {
        try {
          return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
        } catch (e) {
          throw new UsageError(`--${what} ${file}: ${(e as Error).message}`);
        }
      };
      const schema = args.schema ? await readJson(args.schema, 'schema') : undefined;
      const extra = args.options ? await readJson(args.options, 'options') : {};
      const { startSimulator, simulatorOptionIssues } = await import('../../simulator/index.js');
      // Checked before merging the flags in, so the message names the options file.
      const issues = args.options ? simulatorOptionIssues(extra, args.options) : [];
      if (issues.length > 0) throw new ConfigError(issues);
      const sim = await startSimulator({ ...extra, port: args.port ?? 8080, host: args.host ?? '127.0.0.1', seed: args.seed ?? 0, ...(schema ? { schema } : {}) } as Parameters<typeof startSimulator>[0]);
      ctx.io.out(`evalrun simulator listening on ${sim.url}\nexport OPENAI_BASE_URL=${sim.url}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => void sim.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    },
  };
}
