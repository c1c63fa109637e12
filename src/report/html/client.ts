/**
 * The script of report.html, run in the browser after Chart.js. It reads the JSON data block and builds the page
 * with createElement/textContent only: model output and dataset text are data, never markup, so a row or an
 * answer holding `<img src=x onerror=...>` shows as those characters. Plain ES2017, no template literals, so it
 * can live in this string.
 */
export const CLIENT_SCRIPT = String.raw`
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('evalrun-data').textContent);
  var charts = [];
  window.__evalrunCharts = charts;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'className') node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c != null) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return node;
  }
  function pct(v) { return v == null ? '–' : (v * 100).toFixed(1) + '%'; }
  function num(v, digits) { return v == null ? '–' : Number(v).toFixed(digits == null ? 0 : digits); }
  function usd(v) { return v == null ? 'unknown' : v === 0 ? '$0' : v >= 1 ? '$' + v.toFixed(2) : '$' + Number(v.toPrecision(3)); }
  function section(id, title, note) {
    var s = el('section', { id: id }, [el('h2', { text: title })]);
    if (note) s.appendChild(el('p', { className: 'note', text: note }));
    document.getElementById('main').appendChild(s);
    return s;
  }
  function table(headers, rows, className) {
    var thead = el('thead', null, [el('tr', null, headers.map(function (h) { return el('th', { text: h }); }))]);
    var tbody = el('tbody', null, rows);
    return el('table', { className: className || '' }, [thead, tbody]);
  }
  function td(text, className, title) {
    var c = el('td', { text: text, className: className || '' });
    if (title) c.title = title;
    return c;
  }
  function comparisonRow(cell, metric) {
    if (!data.comparison) return null;
    for (var i = 0; i < data.comparison.rows.length; i++) {
      var r = data.comparison.rows[i];
      if (r.cell === cell && r.metric === metric) return r;
    }
    return null;
  }
  function mark(r) {
    if (!r || !r.significant) return '';
    return r.change === 'better' ? ' ▲' : r.change === 'worse' ? ' ▼' : ' ◆';
  }

  // Header
  var s = data.summary;
  document.getElementById('title').textContent = 'evalrun: ' + s.name;
  document.title = 'evalrun: ' + s.name;
  var gateText = '';
  if (data.gates && data.gates.status === 'not_judged' && data.gates.not_judged && data.gates.not_judged.length) {
    gateText = data.gates.not_judged.length + ' gates not judged: the run is incomplete';
  } else if (data.gates && data.gates.results.length) {
    gateText = data.gates.failed ? data.gates.failed + ' of ' + data.gates.results.length + ' gate checks failed' : 'all ' + data.gates.results.length + ' gate checks passed';
  }
  var facts = [
    s.incomplete || null,
    'status ' + s.status,
    s.plan.cells + ' cells × ' + s.plan.rows + ' rows',
    s.recorded.requests + '/' + s.plan.requests + ' requests',
    s.recorded.choices + ' choices',
    s.recorded.failed_requests + ' failed requests',
    s.cost ? 'cost ' + usd(s.cost.cost_usd) + (s.cost.simulated ? ' (simulator: not billed)' : '') + ', prices as of ' + s.cost.prices_as_of : null,
    gateText || null,
  ].filter(Boolean);
  var header = document.getElementById('facts');
  facts.forEach(function (f) { header.appendChild(el('li', { text: f, className: (/failed/.test(f) && !/^0 failed/.test(f)) || /incomplete/i.test(f) ? 'bad' : '' })); });

  // Cells table
  var metricNames = data.metrics.map(function (m) { return m.name; });
  var cellSection = section('cells', 'Cells', 'Rates with 95% Wilson intervals. ▲ ▼: significantly better / worse than the baseline (paired over rows, Holm-adjusted).');
  cellSection.appendChild(table(
    ['cell', 'choices'].concat(metricNames, ['p50 ms', 'p95 ms', 'cost']),
    data.cells.map(function (c) {
      var isBase = data.comparison && data.comparison.baseline === c.id;
      return el('tr', { className: isBase ? 'baseline' : '' }, [td(c.id + (isBase ? ' (baseline)' : ''), 'id'), td(String(c.choices), 'num')].concat(
        metricNames.map(function (m) {
          var r = c.rates[m];
          if (!r || !r.n) return td('–', 'num');
          var cmp = comparisonRow(c.id, m);
          var cls = 'num' + (cmp && cmp.significant ? ' sig-' + cmp.change : '');
          return td(pct(r.k / r.n) + mark(cmp), cls, r.k + '/' + r.n + ', 95% CI ' + pct(r.low) + '–' + pct(r.high));
        }),
        [td(num(c.latency_p50_ms), 'num'), td(num(c.latency_p95_ms), 'num'), td(usd(c.cost_usd), 'num')]
      ));
    }),
    'cells'
  ));

  function chartBox(parent, height) {
    var box = el('div', { className: 'chart' });
    box.style.height = height + 'px';
    var canvas = el('canvas');
    box.appendChild(canvas);
    parent.appendChild(box);
    return canvas;
  }
  var barHeight = function () { return Math.max(160, 26 * data.cells.length + 70); };
  var labels = data.cells.map(function (c) { return c.id; });

  // finish_reason distribution per cell
  var reasons = ['stop', 'length', 'content_filter', 'tool_calls', 'error', 'other'];
  var colors = { stop: '#2e7d32', length: '#f9a825', content_filter: '#8e24aa', tool_calls: '#1e88e5', error: '#c62828', other: '#757575' };
  var frSection = section('finish-reasons', 'finish_reason per cell', 'Share of each cell\'s choices.');
  charts.push(new Chart(chartBox(frSection, barHeight()), {
    type: 'bar',
    data: {
      labels: labels,
      datasets: reasons.filter(function (r) { return data.cells.some(function (c) { return c.reasons[r] > 0; }); }).map(function (r) {
        return { label: r, backgroundColor: colors[r], data: data.cells.map(function (c) { return c.choices ? c.reasons[r] / c.choices : 0; }) };
      }),
    },
    options: {
      indexAxis: 'y', animation: false, maintainAspectRatio: false,
      scales: { x: { stacked: true, min: 0, max: 1, ticks: { callback: function (v) { return Math.round(v * 100) + '%'; } } }, y: { stacked: true } },
      plugins: { tooltip: { callbacks: { label: function (ctx) { return ctx.dataset.label + ': ' + pct(ctx.raw); } } } },
    },
  }));

  // Heatmap: a metric over temperature × top_p, one grid per model
  var hmSection = section('heatmap', 'Heatmap: metric over temperature × top_p', 'Cells that share model, temperature and top_p (other grid axes) are pooled.');
  var select = el('select', { id: 'heatmap-metric' }, data.metrics.map(function (m) { return el('option', { value: m.name, text: m.name }); }));
  var preferred = ['schema_valid_rate', 'json_valid_rate'];
  var firstCheck = data.metrics.filter(function (m) { return /_pass_rate$/.test(m.name); })[0];
  var initial = firstCheck ? firstCheck.name : preferred.filter(function (p) { return metricNames.indexOf(p) >= 0; })[0] || metricNames[0];
  if (initial) select.value = initial;
  hmSection.appendChild(el('label', null, ['metric ', select]));
  var hmBox = el('div', { id: 'heatmaps' });
  hmSection.appendChild(hmBox);
  function axisValues(key) {
    var seen = [];
    data.cells.forEach(function (c) { if (seen.indexOf(c[key]) < 0) seen.push(c[key]); });
    return seen.sort(function (a, b) { return (a == null ? -1 : a) - (b == null ? -1 : b); });
  }
  function drawHeatmaps() {
    var metric = select.value;
    var def = data.metrics.filter(function (m) { return m.name === metric; })[0] || { direction: 'higher' };
    hmBox.textContent = '';
    var models = [];
    data.cells.forEach(function (c) { if (models.indexOf(c.model) < 0) models.push(c.model); });
    var temps = axisValues('temperature');
    var tops = axisValues('top_p');
    models.forEach(function (model) {
      var rows = temps.map(function (t) {
        return el('tr', null, [el('th', { text: t == null ? 'default' : String(t) })].concat(tops.map(function (p) {
          var k = 0, n = 0, ids = [];
          data.cells.forEach(function (c) {
            if (c.model !== model || c.temperature !== t || c.top_p !== p) return;
            var r = c.rates[metric];
            if (r) { k += r.k; n += r.n; }
            ids.push(c.id);
          });
          if (!n) return td('–', 'hm empty', ids.join(', '));
          var v = k / n;
          var good = def.direction === 'lower' ? 1 - v : v;
          var cell = td(pct(v), 'hm', ids.join(', ') + ': ' + k + '/' + n);
          cell.style.background = 'hsl(' + Math.round(120 * good) + ', 65%, ' + (def.direction === 'none' ? 85 : 72) + '%)';
          return cell;
        })));
      });
      var head = el('tr', null, [el('th', { text: 'temperature \\ top_p' })].concat(tops.map(function (p) { return el('th', { text: p == null ? 'default' : String(p) }); })));
      hmBox.appendChild(el('div', { className: 'hm-model' }, [el('h3', { text: model }), el('table', { className: 'heatmap' }, [el('thead', null, [head]), el('tbody', null, rows)])]));
    });
  }
  select.addEventListener('change', drawHeatmaps);
  drawHeatmaps();

  // Latency distribution per cell: 5–95% and 25–75% ranges with the median
  var latSection = section('latency', 'Latency per cell (ms)', 'Per request: thin bar 5th–95th percentile, thick bar 25th–75th, tick the median. Failed requests are left out.');
  var q = function (c, i) { return c.latency[i]; };
  charts.push(new Chart(chartBox(latSection, barHeight()), {
    type: 'bar',
    data: {
      labels: labels,
      datasets: [
        { label: '5th–95th', data: data.cells.map(function (c) { return [q(c, 0), q(c, 4)]; }), backgroundColor: 'rgba(30,136,229,0.25)', grouped: false, barPercentage: 0.35 },
        { label: '25th–75th', data: data.cells.map(function (c) { return [q(c, 1), q(c, 3)]; }), backgroundColor: 'rgba(30,136,229,0.7)', grouped: false, barPercentage: 0.8 },
        { label: 'median', type: 'line', data: data.cells.map(function (c) { return q(c, 2); }), showLine: false, pointStyle: 'line', rotation: 90, pointRadius: 10, borderWidth: 3, borderColor: '#0d2a4a', backgroundColor: '#0d2a4a' },
      ],
    },
    options: { indexAxis: 'y', animation: false, maintainAspectRatio: false, scales: { x: { beginAtZero: true } } },
  }));

  // Comparison
  if (data.comparison) {
    var cmpSection = section('comparison', 'Comparison with the baseline ' + data.comparison.baseline, data.comparison.method);
    cmpSection.appendChild(table(
      ['metric', 'cell', 'baseline', 'value', 'diff [95% CI]', 'rows', 'p', 'p (Holm)', 'verdict'],
      data.comparison.rows.map(function (r) {
        var d = r.metric.slice(-3) === '_ms' ? function (v) { return num(v, 1); } : pct;
        return el('tr', { className: r.significant ? 'sig-' + r.change : '' }, [
          td(r.metric), td(r.cell, 'id'), td(d(r.baseline_value), 'num'), td(d(r.value), 'num'),
          td(d(r.diff) + ' [' + d(r.diff_low) + ', ' + d(r.diff_high) + ']', 'num'), td(String(r.pairs), 'num'),
          td(r.p_value == null ? '–' : String(r.p_value), 'num'), td(r.p_adjusted == null ? '–' : String(r.p_adjusted), 'num'),
          td(r.significant ? r.change : 'no significant difference'),
        ]);
      })
    ));
  }

  // Gates
  if (data.gates && data.gates.results.length) {
    var gSection = section('gates', 'Gates');
    gSection.appendChild(table(['', 'gate', 'cell', 'detail'], data.gates.results.map(function (r) {
      return el('tr', { className: r.passed ? 'pass' : 'fail' }, [td(r.passed ? 'pass' : 'FAIL'), td(r.gate), td(r.cell, 'id'), td(r.message)]);
    })));
  }

  // Failing choices
  var f = data.failing;
  var fSection = section('failing', 'Failing choices', f.shown.length + ' shown of ' + f.total + ' failing choices (the first few of each cell). Content is shown as text, exactly as answered.');
  var cellFilter = el('select', { id: 'failing-cell' }, [el('option', { value: '', text: 'all cells' })].concat(labels.map(function (id) { return el('option', { value: id, text: id }); })));
  fSection.appendChild(el('label', null, ['cell ', cellFilter]));
  var fBody = el('tbody');
  fSection.appendChild(el('table', { className: 'failing', id: 'failing-table' }, [el('thead', null, [el('tr', null, ['cell', 'row', '#', 'finish_reason', 'failed', 'content', 'detail'].map(function (h) { return el('th', { text: h }); }))]), fBody]));
  function drawFailing() {
    fBody.textContent = '';
    f.shown.filter(function (x) { return !cellFilter.value || x.cell === cellFilter.value; }).forEach(function (x) {
      fBody.appendChild(el('tr', null, [
        td(x.cell, 'id'), td(x.row_id, 'id'), td(String(x.choice_index), 'num'), td(x.finish_reason), td(x.failed.join(', ')),
        el('td', null, [el('pre', { className: 'content', text: x.content == null ? '(no content)' : x.content })]),
        td(x.detail || ''),
      ]));
    });
  }
  cellFilter.addEventListener('change', drawFailing);
  drawFailing();
  document.body.setAttribute('data-ready', '1');
})();
`;
