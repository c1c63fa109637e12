/** A real `evalrun run` child process (for signals and kill -9) against a simulator the test owns. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { BIN } from './cli.js';

export interface RunProcess {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Starts `node dist/bin.js run CONFIG --out OUT --quiet ...extra`; `done` resolves when it exits. */
export function startRun(config: string, out: string, env: NodeJS.ProcessEnv, extra: string[] = []): RunProcess {
  const child = spawn(process.execPath, [BIN, 'run', config, '--out', out, '--quiet', ...extra], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, done };
}

/** Non-empty lines of a file (0 if it does not exist yet). */
export function countLines(file: string): number {
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).length;
}

/** Waits until `file` holds at least `atLeast` records (the run is known to be under way). */
export async function waitForRecords(file: string, atLeast: number, timeoutMs = 15_000): Promise<void> {
  const t0 = Date.now();
  while (countLines(file) < atLeast) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${atLeast} records in ${file}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Runs `fn` with a simulator started for it, closed afterwards whatever happens. */
export async function withSim<T>(options: SimulatorOptions, fn: (sim: RunningSimulator) => Promise<T>): Promise<T> {
  const sim = await startSimulator(options);
  try {
    return await fn(sim);
  } finally {
    await sim.close();
  }
}
