import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { CLIENT_SCRIPT } from './client.js';
import type { HtmlData } from './data.js';

let chartJs: Promise<string> | undefined;

/** Chart.js's UMD build from node_modules, read once per process: report.html carries it inline to work offline. */
function chartJsSource(): Promise<string> {
  chartJs ??= (async () => {
    const main = createRequire(import.meta.url).resolve('chart.js');
    return readFile(join(dirname(main), 'chart.umd.min.js'), 'utf8');
  })();
  return chartJs;
}

/**
 * JSON for a `<script type="application/json">` block: `<` as \u003c so no `</script>` or `<!--` in the data can
 * end the block early, plus U+2028/2029 for old parsers. The page reads it with JSON.parse(textContent).
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Inline code cannot contain `</script`; the libraries we inline do not, but make sure. */
function inlineScript(code: string): string {
  return code.replace(/<\/(script)/gi, '<\\/$1');
}

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1c2430; background: #f6f7f9; }
header { background: #1c2430; color: #fff; padding: 16px 24px; }
header h1 { margin: 0 0 6px; font-size: 20px; }
header ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 6px 18px; color: #cfd6e0; }
header li.bad { color: #ff8a80; font-weight: 600; }
main { padding: 8px 24px 40px; max-width: 1400px; }
section { background: #fff; border: 1px solid #dde2e8; border-radius: 6px; padding: 12px 16px; margin: 16px 0; overflow-x: auto; }
h2 { font-size: 16px; margin: 0 0 6px; } h3 { font-size: 14px; margin: 10px 0 4px; }
.note { color: #5b6675; margin: 0 0 8px; font-size: 12.5px; }
table { border-collapse: collapse; font-size: 12.5px; }
th, td { border-bottom: 1px solid #e6e9ee; padding: 4px 7px; text-align: left; vertical-align: top; }
th { background: #f0f2f5; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.id { font-family: ui-monospace, Menlo, Consolas, monospace; white-space: nowrap; }
tr.baseline td { background: #eef4ff; }
.sig-better, tr.sig-better td { color: #1b5e20; font-weight: 600; }
.sig-worse, tr.sig-worse td { color: #b71c1c; font-weight: 600; }
.sig-changed { color: #4a148c; font-weight: 600; }
tr.fail td { background: #fdecea; } tr.pass td:first-child { color: #1b5e20; } tr.fail td:first-child { color: #b71c1c; font-weight: 700; }
.chart { position: relative; width: 100%; min-width: 600px; }
.hm-model { display: inline-block; margin: 0 24px 8px 0; vertical-align: top; }
table.heatmap td.hm { text-align: center; min-width: 64px; font-variant-numeric: tabular-nums; }
table.heatmap td.empty { background: #eceff1; color: #90a4ae; }
th.sortable { cursor: pointer; user-select: none; }
th[aria-sort="ascending"]::after { content: " ↑"; } th[aria-sort="descending"]::after { content: " ↓"; }
table.cells th { vertical-align: bottom; }
table.cells .unscored { font-size: 11px; color: #5b6675; white-space: normal; }
pre.input { margin: 0; min-width: 200px; max-width: 360px; max-height: 180px; overflow: auto; white-space: pre-wrap; word-break: break-word; font-size: 12px; color: #37474f; }
.expected-got { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; color: #b71c1c; }
pre.content { margin: 0; max-width: 640px; max-height: 180px; overflow: auto; white-space: pre-wrap; word-break: break-word; font-size: 12px; background: #f7f8fa; padding: 4px 6px; }
label { font-size: 13px; display: inline-block; margin: 4px 0 8px; }
`;

/**
 * report.html: one file, no network. A Content-Security-Policy allows exactly the two inline scripts (by hash) and
 * nothing else, so even a rendering bug could not run a script smuggled in through model output.
 */
export async function reportHtml(data: HtmlData): Promise<string> {
  return selfContainedPage({
    title: 'evalrun report',
    dataId: 'evalrun-data',
    data,
    script: CLIENT_SCRIPT,
    noscript: 'This report draws its tables and charts with JavaScript; the same numbers are in summary.json and stats.csv.',
  });
}

/**
 * A page of evalrun's (report.html, history.html): the data as a JSON block, Chart.js and the page's script inline,
 * and a Content-Security-Policy that allows those two scripts by hash and nothing else.
 */
export async function selfContainedPage(p: { title: string; dataId: string; data: unknown; script: string; noscript: string }): Promise<string> {
  const lib = inlineScript(await chartJsSource());
  const app = inlineScript(p.script);
  const csp = `default-src 'none'; script-src ${sha256(lib)} ${sha256(app)}; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${p.title}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1 id="title">evalrun</h1><ul id="facts"></ul></header>
<main id="main"><noscript>${p.noscript}</noscript></main>
<script type="application/json" id="${p.dataId}">${jsonForScript(p.data)}</script>
<script>${lib}</script>
<script>${app}</script>
</body>
</html>
`;
}
