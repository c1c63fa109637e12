import type { RunReporter } from '../app/run.js';
import type { BatchProgress } from '../run/index.js';
import type { Io } from './io.js';
import { plural } from '../util/plural.js';
import { formatUsd } from '../report/index.js';

export interface ProgressState {
  done: number;
  total: number;
  elapsedMs: number;
  retries: number;
  errors: number;
  /** Answers replayed from the response cache: shown only when there are some. */
  cached?: number;
  /** Under a spend limit: spent so far (this run directory's, earlier sessions included) and the limit, USD. */
  budget?: { spent: number; limit: number } | undefined;
}

/** 0:07, 3:25, 1:02:09. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function figures(p: ProgressState): { pct: number; rate: number; eta: number } {
  const secs = p.elapsedMs / 1000;
  const rate = secs > 0 ? p.done / secs : 0;
  const eta = rate > 0 ? (p.total - p.done) / rate : NaN;
  return { pct: p.total > 0 ? Math.min(1, p.done / p.total) : 1, rate, eta };
}

function tail(p: ProgressState): string {
  const { rate, eta } = figures(p);
  return `${rate.toFixed(1)}/s  ETA ${p.done >= p.total ? '0:00' : formatDuration(eta)}  retries ${p.retries}  errors ${p.errors}${p.cached ? `  cached ${p.cached}` : ''}${spentText(p.budget)}`;
}

/** `  spent $0.0123 / $0.50`: what the run directory has spent of its budget. */
export function spentText(budget: ProgressState['budget']): string {
  return budget ? `  spent ${formatUsd(budget.spent)} / ${formatUsd(budget.limit)}` : '';
}

/** The live terminal line: a bar sized to the terminal, then the numbers. */
export function formatBar(p: ProgressState, columns = 80): string {
  const { pct } = figures(p);
  const text = `${String(Math.floor(pct * 100)).padStart(3)}%  ${p.done}/${p.total} requests  ${tail(p)}`;
  const width = Math.max(10, Math.min(40, columns - text.length - 4));
  const filled = Math.round(pct * width);
  const line = `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${text}`;
  // Never wider than the terminal, or every redraw would leave a wrapped line behind.
  return line.length > columns - 1 ? line.slice(0, Math.max(0, columns - 1)) : line;
}

/** The line a log (CI) gets every few seconds: no control characters, complete on its own. */
export function formatLogLine(p: ProgressState): string {
  const { pct } = figures(p);
  return `progress: ${p.done}/${p.total} requests (${(pct * 100).toFixed(1)}%)  ${tail(p)}`;
}

/**
 * `batches: 1 in_progress, 2 completed  requests: 120 done, 3 failed, 400 in batches  waiting 0:42`, then what is
 * going on: `downloading file-abc 12.5 MB`, `token limit: next try in 2:00`.
 */
export function formatBatchLine(p: BatchProgress): string {
  const statuses = Object.entries(p.byStatus).map(([k, v]) => `${v} ${k}`).join(', ') || 'none yet';
  const download = p.downloading ? `  downloading ${p.downloading.file} ${(p.downloading.bytes / 1e6).toFixed(1)} MB` : '';
  const limit = p.limitWaitS !== undefined ? `  token limit: next try in ${formatDuration(p.limitWaitS)}` : '';
  return `batches: ${statuses}  requests: ${p.done} done, ${p.failed} failed, ${p.pending} in batches  waiting ${formatDuration(p.waitingS)}${download}${limit}`;
}

/**
 * Progress on stderr: on a terminal a live bar redrawn in place; otherwise (CI logs) a plain line every few
 * seconds; nothing with --quiet. It keeps counts only, never records.
 */
export function progressReporter(io: Io, opts: { quiet: boolean; intervalMs?: number; now?: () => number }): RunReporter & { done(): void } {
  if (opts.quiet) return { done() {} };
  const now = opts.now ?? (() => performance.now());
  const state: ProgressState = { done: 0, total: 0, elapsedMs: 0, retries: 0, errors: 0 };
  let start: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let batchLine: string | undefined;
  let budget: (() => { spent_usd: number; limit_usd: number }) | undefined;
  const spent = () => {
    const b = budget?.();
    return b && { spent: b.spent_usd, limit: b.limit_usd };
  };
  const snapshot = () => ({ ...state, elapsedMs: now() - (start ?? now()), budget: spent() });
  const tick = () => (io.isTTY ? io.err(`\r\x1b[2K${formatBar(snapshot(), io.columns ?? 80)}`) : io.err(`${formatLogLine(snapshot())}\n`));
  return {
    onStart({ plan, alreadyRecorded, dir, budget: b }) {
      budget = b;
      state.total = plan.requests - alreadyRecorded;
      start = now();
      io.err(`evalrun: ${plural(plan.rows, 'row')} × ${plural(plan.cells.length, 'cell')} = ${plan.requests} requests, ${plan.choices} choices${alreadyRecorded ? ` (${alreadyRecorded} already recorded, resuming)` : ''}\n`);
      io.err(`run directory: ${dir}\n`);
      timer = setInterval(tick, io.isTTY ? 200 : (opts.intervalMs ?? 5000));
      timer.unref();
      if (io.isTTY) tick();
    },
    onRecord(record) {
      state.done++;
      // A missing choice is a failure too: the request counts as an error when any of its choices is one.
      if (record.error || record.choices.some((c) => c.error !== undefined)) state.errors++;
      if (record.cached) state.cached = (state.cached ?? 0) + 1;
    },
    onAttempt(o) {
      if (o.retrying) state.retries++;
    },
    onBatchProgress(p) {
      // Batch mode: the batches' statuses are the news, not a request rate; one line per change off a terminal.
      clearInterval(timer);
      batchLine = formatBatchLine(p) + spentText(spent());
      io.err(io.isTTY ? `\r\x1b[2K${batchLine.slice(0, Math.max(0, (io.columns ?? 80) - 1))}` : `${batchLine}\n`);
    },
    done() {
      clearInterval(timer);
      if (start === undefined) return;
      if (batchLine !== undefined) {
        if (io.isTTY) io.err('\n');
        start = undefined;
        return;
      }
      io.err(io.isTTY ? `\r\x1b[2K${formatBar(snapshot(), io.columns ?? 80)}\n` : `${formatLogLine(snapshot())}\n`);
      start = undefined;
    },
  };
}
