import { selfContainedPage } from '../html/page.js';
import { levelPercent, type HistoryJson } from './write.js';

/**
 * The page's script: one trend chart per metric (cells as lines, their intervals as bands, drift points as
 * triangles, runs where something changed as dashed vertical lines), then the drifts, the changes and the noise
 * floor as tables. Everything from the data is set as text, never as HTML.
 */
const CLIENT = String.raw`(() => {
  const data = JSON.parse(document.getElementById('history-data').textContent);
  const el = (tag, attrs, text) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const main = document.getElementById('main');
  document.getElementById('title').textContent = 'evalrun history: ' + data.name;
  const facts = document.getElementById('facts');
  const runs = data.runs;
  const when = (i) => (i < 0 ? 'baseline' : runs[i].started_at.slice(0, 19).replace('T', ' '));
  facts.append(el('li', {}, runs.length + ' runs, ' + runs.filter((r) => r.judged).length + ' judged'));
  const latest = data.latest;
  facts.append(el('li', latest.judged && latest.worse.length ? { class: 'bad' } : {}, !latest.judged ? 'newest run not judged' : latest.worse.length ? 'newest run drifted worse: ' + latest.worse.length : 'no worse drift in the newest run'));
  const pct = (m) => !m.endsWith('_ms');
  const fmt = (m, v) => (v === null || v === undefined ? '–' : pct(m) ? (v * 100).toFixed(1) + '%' : v.toFixed(1) + ' ms');
  const changedAt = new Map();
  for (const t of data.transitions) if (t.against === 'previous' && t.changes.length) changedAt.set(t.to, t.changes.map((c) => c.detail).join('; '));
  const changeLines = {
    id: 'changes',
    afterDatasetsDraw(chart) {
      const { ctx, chartArea, scales } = chart;
      ctx.save();
      ctx.setLineDash([4, 4]);
      ctx.strokeStyle = '#6a1b9a';
      ctx.fillStyle = '#6a1b9a';
      ctx.font = '11px system-ui';
      for (const [i] of changedAt) {
        const x = scales.x.getPixelForValue(i);
        ctx.beginPath();
        ctx.moveTo(x, chartArea.top);
        ctx.lineTo(x, chartArea.bottom);
        ctx.stroke();
        ctx.fillText('changed', x + 3, chartArea.top + 10);
      }
      ctx.restore();
    },
  };
  const palette = ['#1565c0', '#c62828', '#2e7d32', '#ef6c00', '#6a1b9a', '#00838f', '#ad1457', '#4e342e', '#283593', '#9e9d24', '#00695c', '#5d4037'];
  const cells = [];
  for (const r of runs) for (const c of r.cells) if (!cells.includes(c.cell)) cells.push(c.cell);
  const labels = runs.map((r) => when(r.index) + (r.judged ? '' : ' (not judged)'));
  window.__evalrunHistoryCharts = [];
  for (const m of data.metrics) {
    const section = el('section', { id: 'metric-' + m.name });
    section.append(el('h2', {}, m.name), el('p', { class: 'note' }, (m.direction === 'higher' ? 'higher is better' : m.direction === 'lower' ? 'lower is better' : 'no direction') + '; bands: ' + data.level + ' intervals; ▲ drift against the run before; dashed line: something changed (see below)'));
    const box = el('div', { class: 'chart', style: 'height: 340px' });
    const canvas = el('canvas');
    box.append(canvas);
    section.append(box);
    main.append(section);
    const datasets = [];
    cells.forEach((cell, k) => {
      const color = palette[k % palette.length];
      const pick = (key) => runs.map((r) => { const c = r.cells.find((x) => x.cell === cell); const p = c && c.metrics[m.name]; return p && p[key] !== null && p[key] !== undefined ? p[key] : null; });
      const drift = runs.map((r) => data.transitions.find((t) => t.to === r.index && t.against === 'previous' && t.drifts.some((d) => d.metric === m.name && (d.cell === cell || d.cell.endsWith(' → ' + cell)))));
      const kind = drift.map((t) => t && t.drifts.find((d) => d.metric === m.name && (d.cell === cell || d.cell.endsWith(' → ' + cell))).change);
      datasets.push({ label: cell + ' band low', data: pick('low'), borderWidth: 0, pointRadius: 0, fill: false, spanGaps: false });
      datasets.push({ label: cell + ' band high', data: pick('high'), borderWidth: 0, pointRadius: 0, fill: '-1', backgroundColor: color + '22', spanGaps: false });
      datasets.push({
        label: cell, data: pick('value'), borderColor: color, backgroundColor: color, borderWidth: 1.5, spanGaps: false,
        pointStyle: kind.map((x) => (x ? 'triangle' : 'circle')),
        pointRadius: kind.map((x) => (x ? 7 : 2)),
        pointBackgroundColor: kind.map((x) => (x === 'worse' ? '#b71c1c' : x === 'better' ? '#1b5e20' : x ? '#4a148c' : color)),
        drift: kind,
      });
    });
    const chart = new Chart(canvas, {
      type: 'line',
      data: { labels, datasets },
      options: {
        animation: false, maintainAspectRatio: false,
        scales: { y: { ticks: { callback: (v) => fmt(m.name, v) } } },
        plugins: {
          legend: { labels: { filter: (item) => !item.text.includes(' band ') } },
          tooltip: { filter: (item) => !item.dataset.label.includes(' band '), callbacks: { label: (c) => c.dataset.label + ': ' + fmt(m.name, c.parsed.y) + (c.dataset.drift && c.dataset.drift[c.dataIndex] ? ' (drift: ' + c.dataset.drift[c.dataIndex] + ')' : '') } },
        },
      },
      plugins: [changeLines],
    });
    window.__evalrunHistoryCharts.push({ metric: m.name, chart });
  }
  const table = (id, head, rows) => {
    const t = el('table', { id });
    const tr = el('tr');
    for (const h of head) tr.append(el('th', {}, h));
    const thead = el('thead');
    thead.append(tr);
    t.append(thead);
    const body = el('tbody');
    for (const r of rows) {
      const row = el('tr', r.cls ? { class: r.cls } : {});
      for (const v of r.cells) row.append(el('td', {}, v));
      body.append(row);
    }
    t.append(body);
    return t;
  };
  const drifts = el('section');
  drifts.append(el('h2', {}, 'Drift'), el('p', { class: 'note' }, data.method));
  const driftRows = [];
  for (const t of data.transitions) for (const d of t.drifts) driftRows.push({ cls: 'sig-' + d.change, cells: [when(t.to), t.against === 'previous' ? when(t.from) : 'baseline', d.metric, d.cell, d.change, fmt(d.metric, d.from_value) + ' → ' + fmt(d.metric, d.to_value), (d.p_adjusted === null ? '–' : d.p_adjusted.toPrecision(2)), d.test, d.because] });
  drifts.append(driftRows.length ? table('drift-table', ['run', 'against', 'metric', 'cell', 'drift', 'value', 'p (Holm)', 'test', 'attributed to'], driftRows) : el('p', {}, 'No drift between any two judged runs.'));
  main.append(drifts);
  const changes = el('section');
  changes.append(el('h2', {}, 'What changed'));
  const changeRows = data.transitions.filter((t) => t.against === 'previous').map((t) => ({ cells: [when(t.to), when(t.from), t.test, t.changes.length ? t.changes.map((c) => c.detail).join('; ') : 'nothing that we can see'] }));
  changes.append(table('changes-table', ['run', 'against', 'test', 'changed'], changeRows));
  main.append(changes);
  const noise = el('section');
  noise.append(el('h2', {}, 'Noise floor'), el('p', { class: 'note' }, 'Differences between consecutive runs with identical requests where nothing changed: how far a metric moves by chance.'));
  noise.append(table('noise-table', ['metric', 'run pairs', 'mean |diff|', 'max |diff|', 'typical ' + data.level + ' half-width'], data.noise_floor.map((n) => ({ cells: [n.metric, String(n.transitions), fmt(n.metric, n.mean_abs_diff), fmt(n.metric, n.max_abs_diff), fmt(n.metric, n.median_half_width)] }))));
  main.append(noise);
  const runsSection = el('section');
  runsSection.append(el('h2', {}, 'Runs'));
  runsSection.append(table('runs-table', ['run', 'status', 'judged', 'requests', 'cost', 'evalrun', 'directory'], runs.map((r) => ({ cls: r.judged ? '' : 'fail', cells: [when(r.index), r.status, r.judged ? 'yes' : 'no: ' + r.not_judged, r.recorded_requests + ' / ' + r.planned_requests, r.cost_usd === null ? '–' : '$' + r.cost_usd.toFixed(4), r.evalrun_version, r.dir] }))));
  main.append(runsSection);
  document.body.dataset.ready = '1';
})();
`;

/** history.html: one file, no network, the same Content-Security-Policy as report.html. */
export function historyHtml(data: HistoryJson): Promise<string> {
  return selfContainedPage({
    title: 'evalrun history',
    dataId: 'history-data',
    // The interval's level as the tables say it (95%, 99%): worked out once, with the markdown's rule.
    data: { ...data, level: levelPercent(data.alpha) },
    script: CLIENT,
    noscript: 'This page draws its charts with JavaScript; the same numbers are in history.json and history.csv.',
  });
}
