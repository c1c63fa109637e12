import { field, type Summary } from '../contracts/summary.js';

/** One line of the agreement table: a check's κ with people in one cell, or over all cells (`cell` null). */
export interface AgreementRow {
  check: string;
  cell: string | null;
  kappa: number | null;
  low: number | null;
  high: number | null;
  n: number;
  unscored: number;
  /** κ as the reports print it: "0.534 [0.121, 0.947]", or "undefined: <why>". */
  text: string;
}

const fixed = (v: number | null) => (v === null ? '–' : v.toFixed(3));

/**
 * Every human-labelled check's agreement, pooled over all cells first and then per cell, as the console, summary.md
 * and report.html show it (from summary.json alone). Empty when no check has human labels.
 */
export function agreementRows(summary: Pick<Summary, 'agreement' | 'cells'>): AgreementRow[] {
  const out: AgreementRow[] = [];
  for (const [check, all] of Object.entries(summary.agreement ?? {})) {
    const row = (cell: string | null, kappa: number | null, low: number | null, high: number | null, n: number, unscored: number, note: string | null): AgreementRow => ({
      check, cell, kappa, low, high, n, unscored,
      text: kappa === null ? `undefined: ${note ?? 'nothing to compare'}` : `${fixed(kappa)} [${fixed(low)}, ${fixed(high)}]`,
    });
    out.push(row(null, all.kappa, all.kappa_low, all.kappa_high, all.kappa_n, all.kappa_unscored, all.kappa_note));
    for (const c of summary.cells) {
      const num = (k: string) => (typeof field(c, `${check}_${k}`) === 'number' ? (field(c, `${check}_${k}`) as number) : null);
      const note = field(c, `${check}_kappa_note`);
      out.push(row(c.cell, num('kappa'), num('kappa_low'), num('kappa_high'), num('kappa_n') ?? 0, num('kappa_unscored') ?? 0, typeof note === 'string' ? note : null));
    }
  }
  return out;
}

/** The heading the reports put over it: what κ is, and over which choices. */
export function agreementHeading(summary: Pick<Summary, 'agreement'>): string {
  const weighted = Object.values(summary.agreement ?? {}).some((a) => a.weights === 'quadratic');
  return `Agreement with people (<check>_kappa: Cohen's κ${weighted ? ', quadratic weights on rating scales' : ''}, 95% interval; n: choices with both a human label and a verdict)`;
}

/** The block after the summary table on the console. */
export function formatAgreement(summary: Pick<Summary, 'agreement' | 'cells'>): string {
  const rows = agreementRows(summary);
  if (rows.length === 0) return '';
  return [
    `${agreementHeading(summary)}:`,
    ...rows.map((r) => `  ${r.check}_kappa  ${r.cell ?? 'all cells'}: κ ${r.text}  n ${r.n}${r.unscored ? `, ${r.unscored} labelled but unscored (left out)` : ''}`),
  ].join('\n');
}
