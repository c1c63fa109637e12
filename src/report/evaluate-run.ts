import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { evaluateGates, gatesNotJudged } from '../gate/index.js';
import type { RunManifest } from '../record/index.js';
import { emptyEvaluation } from '../contracts/evaluation.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { ReportCollector } from './collector.js';
import { COMPARISON_COLUMNS, compareWithinRun } from './comparison.js';
import { costSection } from './cost-summary.js';
import { applyPick, recommendPick } from './pick.js';
import { htmlData } from './html/data.js';
import { reportHtml } from './html/page.js';
import { junitXml } from './junit.js';
import { summaryMarkdown } from './markdown.js';
import { ROW_VALUES_FILE } from './history/row-values-file.js';
import type { CellStats, PickSection, Summary } from '../contracts/summary.js';

/** Reports written into the run directory beside choices.csv, stats.csv and summary.json. */
const EXTRA_REPORTS = ['comparison.csv', 'junit.xml', 'summary.md', 'report.html'] as const;
/** Every file a report pass writes into the run directory (run, resume, report, regrade, merge), as the CLI names them. */
export const REPORT_FILES = ['choices.csv', 'stats.csv', 'summary.json', ...EXTRA_REPORTS, ROW_VALUES_FILE] as const;

/**
 * The cells' stats with check rates, intervals and cost, each marked on or off the frontier, and the pick section
 * that marking came from (the pick is applied once, here).
 */
export function cellReports(manifest: RunManifest, collector: ReportCollector): { cells: CellStats[]; pick: PickSection } {
  const pricing = manifest.evaluation?.pricing ?? {};
  const cells = collector.cellStats(pricing);
  const pick = applyPick(cells, manifest.evaluation?.pick, collector.checks, collector.scored, collector.humanNames);
  return { cells, pick };
}

/** What summary.json gains from the evaluation settings: the comparison, the gate results and the cost. */
export function evaluateRun(manifest: RunManifest, collector: ReportCollector, cells: CellStats[], pick: PickSection, recorded: number): Pick<Summary, 'checks' | 'scored_checks' | 'judges' | 'comparison' | 'gates' | 'cost' | 'pick' | 'agreement'> {
  const evaluation = manifest.evaluation ?? emptyEvaluation();
  const planned = manifest.plan.requests;
  return {
    checks: collector.checks,
    ...(collector.scored.length ? { scored_checks: collector.scored } : {}),
    ...(evaluation.judges?.length ? { judges: evaluation.judges } : {}),
    comparison: compareWithinRun(collector.rowValues, collector.compareMetrics, cells, evaluation.compare),
    gates: manifest.shard
      ? gatesNotJudged(evaluation.gates, recorded, manifest.shard.requests, manifest.shard)
      : recorded === planned
        ? evaluateGates(evaluation.gates, cells)
        : gatesNotJudged(evaluation.gates, recorded, planned),
    cost: costSection(cells, collector.cells.map((c) => c.billed), evaluation.pricing, manifest.provider.kind === 'simulator', manifest.batch !== undefined, collector.cells.map((c) => c.judges)),
    pick: { ...pick, ...recommendPick(pick, cells, collector.rowValues, collector.checks, evaluation.compare.alpha, collector.scored, evaluation.pick?.margin ?? undefined) },
    ...(collector.human.length ? { agreement: collector.agreement() } : {}),
  };
}

export async function writeExtraReports(dir: string, summary: Summary, collector: ReportCollector): Promise<void> {
  const rows = summary.comparison?.rows ?? [];
  const csv = stringify(rows as unknown as Array<Record<string, unknown>>, {
    header: true,
    columns: [...COMPARISON_COLUMNS],
    cast: { boolean: (v: boolean) => (v ? 'true' : 'false') },
  });
  const failingTotal = collector.failingPerCell.reduce((s, n) => s + n, 0);
  const html = await reportHtml(htmlData(summary, collector.cells.map((c) => c.latencies), collector.failing, failingTotal));
  // The files are independent: written side by side, a run's last step waits on the disk once, not four times.
  await Promise.all([
    writeFileAtomic(join(dir, 'comparison.csv'), csv),
    writeFileAtomic(join(dir, 'junit.xml'), junitXml(summary, summary.gates)),
    writeFileAtomic(join(dir, 'summary.md'), summaryMarkdown(summary)),
    writeFileAtomic(join(dir, 'report.html'), html),
  ]);
}

/** GitHub Actions shows the markdown appended to $GITHUB_STEP_SUMMARY on the job's page. */
export async function appendStepSummary(env: NodeJS.ProcessEnv, markdown: string): Promise<boolean> {
  const file = env['GITHUB_STEP_SUMMARY'];
  if (!file) return false;
  await appendFile(file, `${markdown}\n`);
  return true;
}
