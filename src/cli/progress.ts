import type { RunReporter } from '../run-eval.js';
import type { Io } from './io.js';

/**
 * Progress on stderr: a live line on a terminal, a plain line every few seconds otherwise (CI logs), nothing with
 * --quiet. Counts only; it keeps no records.
 */
export function progressReporter(io: Io, opts: { quiet: boolean; intervalMs?: number }): RunReporter & { done(): void } {
  if (opts.quiet) return { done() {} };
  let total = 0;
  let done = 0;
  let errors = 0;
  let retries = 0;
  let start = 0;
  let timer: NodeJS.Timeout | undefined;
  const line = () => {
    const secs = (performance.now() - start) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const eta = rate > 0 ? Math.round((total - done) / rate) : NaN;
    const pct = total ? ((done / total) * 100).toFixed(1) : '100';
    return `${done}/${total} requests (${pct}%)  ${rate.toFixed(1)}/s  ETA ${Number.isNaN(eta) ? '-' : `${eta}s`}  retries ${retries}  errors ${errors}`;
  };
  const tick = () => (io.isTTY ? io.err(`\r\x1b[2K${line()}`) : io.err(`${line()}\n`));
  return {
    onStart({ plan, alreadyRecorded, dir }) {
      total = plan.requests - alreadyRecorded;
      start = performance.now();
      io.err(`evalrun: ${plan.rows} rows × ${plan.cells.length} cells = ${plan.requests} requests, ${plan.choices} choices${alreadyRecorded ? ` (${alreadyRecorded} already recorded, resuming)` : ''}\n`);
      io.err(`run directory: ${dir}\n`);
      timer = setInterval(tick, io.isTTY ? 250 : (opts.intervalMs ?? 5000));
      timer.unref();
    },
    onRecord(record) {
      done++;
      if (record.error) errors++;
    },
    onAttempt(o) {
      if (o.retrying) retries++;
    },
    done() {
      clearInterval(timer);
      if (start) io.err(io.isTTY ? `\r\x1b[2K${line()}\n` : `${line()}\n`);
      start = 0;
    },
  };
}
