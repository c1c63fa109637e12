/**
 * Every condition that stops a whole run is an EvalrunError with a stable `code` and the exit code the CLI
 * returns for it. Per-request failures are data (a record with an error), never exceptions.
 */
export const ExitCode = {
  Ok: 0,
  /** A gate failed, or some requests still failed after all their attempts. */
  CheckFailures: 1,
  Usage: 2,
  Config: 3,
  Data: 4,
  /** Authentication, permission, unknown model, or no API key: nothing more can be sent. */
  Api: 5,
  /** The output directory cannot be used (exists already, or resume does not match). */
  Output: 6,
  /**
   * A batch run stopped by something outside it: a batch cancelled by someone else, or one still not final more than
   * an hour past its expires_at. What finished is recorded; nothing was resubmitted; resumable.
   */
  BatchStopped: 7,
  /**
   * The run's spend limit (`budget_usd:`, `--max-cost`) stopped it: the next request's worst case did not fit. What
   * finished is recorded; resumable with a higher budget.
   */
  BudgetStopped: 8,
  Internal: 70,
  /**
   * Another evalrun process is working in the run directory (sysexits' EX_TEMPFAIL: try again once it is done).
   * A second writer would send requests twice and corrupt the journal.
   */
  Busy: 75,
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A problem located in a source file. `line`/`col` are 1-based; 0 when unknown. */
export interface SourceIssue {
  file: string;
  line: number;
  col: number;
  /** Dotted path inside the document (`grid.temperature.1`), or a row description for datasets. */
  path: string;
  message: string;
}

export function formatIssue(i: SourceIssue): string {
  const where = i.line > 0 ? (i.col > 0 ? `${i.file}:${i.line}:${i.col}` : `${i.file}:${i.line}`) : i.file;
  return i.path ? `${where} ${i.path}: ${i.message}` : `${where}: ${i.message}`;
}

export class EvalrunError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  constructor(code: string, exitCode: ExitCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
  }
}

export class UsageError extends EvalrunError {
  constructor(message: string) {
    super('EVALRUN_USAGE', ExitCode.Usage, message);
  }
}

export class ConfigError extends EvalrunError {
  readonly issues: readonly SourceIssue[];
  constructor(issues: readonly SourceIssue[], code = 'EVALRUN_CONFIG_INVALID') {
    super(code, ExitCode.Config, issues.map(formatIssue).join('\n'));
    this.issues = issues;
  }
}

export class DatasetError extends EvalrunError {
  readonly issues: readonly SourceIssue[];
  constructor(issues: readonly SourceIssue[]) {
    super('EVALRUN_DATASET_INVALID', ExitCode.Data, issues.map(formatIssue).join('\n'));
    this.issues = issues;
  }
}

/** The provider refuses us as a whole (401/403/404, no key): stop dispatching, keep what is recorded. */
export class ApiFatalError extends EvalrunError {
  readonly status: number | undefined;
  constructor(message: string, status?: number, options?: ErrorOptions) {
    super('EVALRUN_API_FATAL', ExitCode.Api, message, options);
    this.status = status;
  }
}

/** A batch run stopped by something outside it (see ExitCode.BatchStopped). */
export class BatchStoppedError extends EvalrunError {
  constructor(message: string) {
    super('EVALRUN_BATCH_STOPPED', ExitCode.BatchStopped, message);
  }
}

/** The spend limit stopped the run (see ExitCode.BudgetStopped). */
export class BudgetStoppedError extends EvalrunError {
  constructor(message: string) {
    super('EVALRUN_BUDGET_STOPPED', ExitCode.BudgetStopped, message);
  }
}

export class OutputError extends EvalrunError {
  constructor(message: string, code = 'EVALRUN_OUTPUT') {
    super(code, ExitCode.Output, message);
  }
}

/** The run directory is locked by a live evalrun process (`run.lock`). */
export class RunLockedError extends EvalrunError {
  constructor(message: string) {
    super('EVALRUN_RUN_LOCKED', ExitCode.Busy, message);
  }
}

export class InterruptedError extends EvalrunError {
  constructor(message: string) {
    super('EVALRUN_INTERRUPTED', ExitCode.Interrupted, message);
  }
}

/** `evalrun merge` refuses its inputs (a shard missing, given twice, of another plan, unfinished): a data problem. */
export class MergeError extends EvalrunError {
  constructor(message: string, code = 'EVALRUN_MERGE') {
    super(code, ExitCode.Data, message);
  }
}
