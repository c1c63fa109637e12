import type { GateSection, Summary } from '../contracts/summary.js';
import { plural } from '../util/plural.js';
import { partialNote } from './markdown.js';

/** XML 1.0 text: the five entities, and the control characters XML forbids dropped (model output can hold any). */
export function xmlEscape(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const attr = (o: Record<string, string | number>) => Object.entries(o).map(([k, v]) => ` ${k}="${xmlEscape(String(v))}"`).join('');

/**
 * junit.xml for CI test reporters: one testsuite per gate, one testcase per gate × cell (a failure carries the
 * message), and a "run" suite whose cases fail when the run is incomplete or requests failed, so every reason for
 * exit code 1 shows up as a red test.
 */
export function junitXml(summary: Summary, gates: GateSection | undefined): string {
  const suites: string[] = [];
  const byGate = new Map<string, GateSection['results']>();
  for (const r of gates?.results ?? []) byGate.set(r.gate, [...(byGate.get(r.gate) ?? []), r]);
  for (const [gate, results] of byGate) {
    const failures = results.filter((r) => !r.passed).length;
    const cases = results.map((r) => {
      const head = `    <testcase${attr({ classname: `evalrun.gates.${summary.name}`, name: `${gate} :: ${r.cell}` })}`;
      if (r.passed) return `${head}>\n      <system-out>${xmlEscape(r.message)}</system-out>\n    </testcase>`;
      return `${head}>\n      <failure${attr({ message: r.message, type: 'GateFailure' })}>${xmlEscape(`${gate}\ncell: ${r.cell}\n${r.message}`)}</failure>\n    </testcase>`;
    });
    suites.push(`  <testsuite${attr({ name: `gate: ${gate}`, tests: results.length, failures, errors: 0, skipped: 0 })}>\n${cases.join('\n')}\n  </testsuite>`);
  }
  // Gates of an incomplete run are reported as skipped: neither a pass nor a failure was shown.
  const notJudged = gates?.status === 'not_judged' ? (gates.not_judged ?? []) : [];
  if (notJudged.length > 0) {
    const why = gates?.reason ?? 'not judged: the run is incomplete';
    const cases = notJudged.map((g) => `    <testcase${attr({ classname: `evalrun.gates.${summary.name}`, name: g })}>\n      <skipped${attr({ message: why })}/>\n    </testcase>`);
    suites.push(`  <testsuite${attr({ name: summary.shard ? 'gates (not judged in a shard: judged after evalrun merge)' : 'gates (not judged: incomplete run)', tests: notJudged.length, failures: 0, errors: 0, skipped: notJudged.length })}>\n${cases.join('\n')}\n  </testsuite>`);
  }
  const runCases: Array<[string, string | null]> = [
    ['run complete', summary.complete ? null : summary.partial ? partialNote(summary) : summary.incomplete ?? `${summary.recorded.requests} of ${summary.shard?.requests ?? summary.plan.requests} requests recorded (status ${summary.status})`],
    ['no failed requests', summary.recorded.failed_requests === 0 ? null : `${plural(summary.recorded.failed_requests, 'request')} failed after all attempts or lacked choices they asked for (${plural(summary.recorded.failed_choices ?? summary.recorded.failed_requests, 'choice')} with finish_reason 'error' in choices.csv)`],
  ];
  const runFailures = runCases.filter(([, f]) => f !== null).length;
  suites.push(
    `  <testsuite${attr({ name: 'run', tests: runCases.length, failures: runFailures, errors: 0, skipped: 0 })}>\n` +
      runCases
        .map(([name, failure]) => {
          const head = `    <testcase${attr({ classname: `evalrun.run.${summary.name}`, name })}`;
          return failure === null ? `${head}/>` : `${head}>\n      <failure${attr({ message: failure, type: 'RunFailure' })}/>\n    </testcase>`;
        })
        .join('\n') +
      '\n  </testsuite>',
  );
  const tests = (gates?.results.length ?? 0) + notJudged.length + runCases.length;
  const failures = (gates?.failed ?? 0) + runFailures;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites${attr({ name: `evalrun: ${summary.name}`, tests, failures, errors: 0, ...(notJudged.length ? { skipped: notJudged.length } : {}) })}>\n${suites.join('\n')}\n</testsuites>\n`;
}
