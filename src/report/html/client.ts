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
  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : (many || one + 's')); }
  // Long metric names (category_matches_pass_rate) may break after an underscore, so the cells table fits the page.
  function breakable(text) {
    var parts = String(text).split('_');
    var out = [];
    parts.forEach(function (p, i) {
      out.push(i < parts.length - 1 ? p + '_' : p);
      if (i < parts.length - 1) out.push(el('wbr'));
    });
    return out;
  }
  // Click a header to sort by that column (again: the other way). Cells carry their value in data-sort; a row
  // with no value sorts last either way.
  function sortable(tableNode) {
    var ths = tableNode.querySelectorAll('thead th');
    var tbody = tableNode.querySelector('tbody');
    var state = { col: -1, dir: 1 };
    Array.prototype.forEach.call(ths, function (th, col) {
      th.className = (th.className + ' sortable').trim();
      th.title = 'Sort by this column';
      th.setAttribute('aria-sort', 'none');
      th.addEventListener('click', function () {
        state.dir = state.col === col ? -state.dir : 1;
        state.col = col;
        var rows = Array.prototype.slice.call(tbody.rows);
        var key = function (tr) {
          var c = tr.cells[col];
          var v = c ? c.getAttribute('data-sort') : null;
          if (v == null) v = c ? c.textContent : '';
          return v;
        };
        var numeric = rows.every(function (tr) { var v = key(tr); return v === '' || !isNaN(Number(v)); });
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          if (x === '' || y === '') return x === y ? 0 : x === '' ? 1 : -1;
          var d = numeric ? Number(x) - Number(y) : x < y ? -1 : x > y ? 1 : 0;
          return d * state.dir;
        });
        rows.forEach(function (tr) { tbody.appendChild(tr); });
        Array.prototype.forEach.call(ths, function (h, i) { h.setAttribute('aria-sort', i === col ? (state.dir > 0 ? 'ascending' : 'descending') : 'none'); });
      });
    });
    return tableNode;
  }
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
  // Into evalrun view: the same origin when the viewer serves this report (/report.html), whatever its port; from
  // disk, the viewer's default port, where it listens unless told otherwise.
  var viewBase = /^https?:$/.test(location.protocol) ? '/' : 'http://127.0.0.1:' + data.view.port + '/';
  function viewLink(text, key, value, title) {
    var a = el('a', { className: 'view-link', text: text, title: title });
    a.setAttribute('href', viewBase + '?' + data.view.query[key] + '=' + encodeURIComponent(value));
    return a;
  }
  // A metric's value in a cell: a rate's share, or a scored check's mean score (shown as a number, not a percentage).
  function metricValue(r) { return r.mean !== undefined ? r.mean : r.k / r.n; }
  function metricText(r) { return r.mean !== undefined ? num(r.mean, 3) : pct(r.k / r.n); }
  function metricTitle(r) {
    return r.mean !== undefined ? 'mean of ' + r.n + ' scores, 95% CI ' + num(r.low, 3) + '–' + num(r.high, 3) : r.k + '/' + r.n + ', 95% CI ' + pct(r.low) + '–' + pct(r.high);
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
    gateText = plural(data.gates.not_judged.length, 'gate') + (s.shard ? ' not judged in a shard: gates are judged after evalrun merge' : ' not judged: the run is incomplete');
  } else if (data.gates && data.gates.results.length) {
    var nGates = data.gates.results.length;
    gateText = data.gates.failed ? data.gates.failed + ' of ' + plural(nGates, 'gate check') + ' failed' : nGates === 1 ? 'the 1 gate check passed' : 'all ' + nGates + ' gate checks passed';
  }
  var partial = s.partial ? 'PARTIAL merge: ' + []
    .concat(s.partial.missing.length ? ['shards ' + s.partial.missing.join(', ') + ' missing'] : [])
    .concat(s.partial.unfinished.length ? ['shards ' + s.partial.unfinished.join(', ') + ' unfinished'] : [])
    .join(', ') + ' — not the whole run' : null;
  var facts = [
    s.incomplete || null,
    partial,
    s.shard ? 'shard ' + s.shard.index + '/' + s.shard.count + ' (' + s.shard.requests + ' requests)' : null,
    'status ' + s.status,
    plural(s.plan.cells, 'cell') + ' × ' + plural(s.plan.rows, 'row'),
    s.recorded.requests + '/' + s.plan.requests + ' requests',
    s.recorded.choices + ' choices',
    plural(s.recorded.failed_requests, 'failed request'),
    s.cost ? 'cost ' + usd(s.cost.cost_usd) + (s.cost.simulated ? ' (simulator: not billed)' : '') + ', prices as of ' + s.cost.prices_as_of : null,
    gateText || null,
  ].filter(Boolean);
  var header = document.getElementById('facts');
  facts.forEach(function (f) { header.appendChild(el('li', { text: f, className: (/failed/.test(f) && !/^0 failed/.test(f)) || /incomplete/i.test(f) || f === partial ? 'bad' : '' })); });

  // Cells table
  var metricNames = data.metrics.map(function (m) { return m.name; });
  var cellSection = section('cells', 'Cells', 'Rates with 95% Wilson intervals.' + (s.scored_checks && s.scored_checks.length ? ' Scores (_score_mean): the mean over the choices a check scored, with a 95% t-interval; under it, the share of answers it could not score (_unscored_rate).' : '') + ' ▲ ▼: significantly better / worse than the baseline (paired over rows, Holm-adjusted).' + (s.pick && s.pick.frontier.length ? ' ◆: on the quality-cost frontier (Which to pick).' : ''));
  // A scored check's unscored rate is shown under its mean score, not in a column of its own: the table must fit.
  var unscoredOf = function (m) { return m.replace(/_score_mean$/, '_unscored_rate'); };
  var tableMetrics = metricNames.filter(function (m) {
    return !(/_unscored_rate$/.test(m) && metricNames.indexOf(m.replace(/_unscored_rate$/, '_score_mean')) >= 0);
  });
  var sortKey = function (node, v) { node.setAttribute('data-sort', v == null ? '' : String(v)); return node; };
  var cellsTable = table(
    ['cell', 'choices'].concat(tableMetrics, ['p50 ms', 'p95 ms', 'cost']),
    data.cells.map(function (c) {
      var isBase = data.comparison && data.comparison.baseline === c.id;
      var onFrontier = c.pick && c.pick.frontier;
      var idCell = td('', 'id', onFrontier ? 'on the frontier: best at its price (see Which to pick)' : undefined);
      idCell.appendChild(viewLink(c.id, 'cell', c.id, "this cell's answers, row by row, in evalrun view (evalrun view DIR)"));
      idCell.appendChild(document.createTextNode((isBase ? ' (baseline)' : '') + (onFrontier ? ' ◆' : '')));
      return el('tr', { className: (isBase ? 'baseline' : '') + (onFrontier ? ' frontier' : '') }, [sortKey(idCell, c.id), sortKey(td(String(c.choices), 'num'), c.choices)].concat(
        tableMetrics.map(function (m) {
          var r = c.rates[m];
          var u = r && r.mean !== undefined ? c.rates[unscoredOf(m)] : undefined;
          if (!r || !r.n) return sortKey(td(u && u.n ? pct(u.k / u.n) + ' unscored' : '–', 'num', u && u.n ? u.k + ' of ' + u.n + ' answers unscored' : undefined), null);
          var cmp = comparisonRow(c.id, m);
          var cls = 'num' + (cmp && cmp.significant ? ' sig-' + cmp.change : '');
          var node = td(metricText(r) + mark(cmp), cls, metricTitle(r) + (u && u.n ? '; ' + u.k + ' of ' + u.n + ' answers unscored' : ''));
          if (u && u.n) node.appendChild(el('div', { className: 'unscored', text: pct(u.k / u.n) + ' unscored' }));
          return sortKey(node, metricValue(r));
        }),
        [sortKey(td(num(c.latency_p50_ms), 'num'), c.latency_p50_ms), sortKey(td(num(c.latency_p95_ms), 'num'), c.latency_p95_ms), sortKey(td(usd(c.cost_usd), 'num'), c.cost_usd)]
      ));
    }),
    'cells'
  );
  cellsTable.id = 'cells-table';
  Array.prototype.forEach.call(cellsTable.querySelectorAll('thead th'), function (th) {
    var text = th.textContent;
    th.textContent = '';
    breakable(text).forEach(function (part) { th.appendChild(typeof part === 'string' ? document.createTextNode(part) : part); });
  });
  cellSection.appendChild(sortable(cellsTable));

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

  // Heatmap: a metric over two grid axes the user picks; every other axis is fixed by a filter, so a square shows
  // one cell (two only when the grid repeats a setting, and then each is shown on its own line), never a pool.
  var hmSection = section('heatmap', 'Heatmap: metric over two grid axes', 'Pick the axes; the other grid axes are fixed by the filters, so distinct cells are never pooled.');
  var select = el('select', { id: 'heatmap-metric' }, data.metrics.map(function (m) { return el('option', { value: m.name, text: m.name }); }));
  var preferred = ['schema_valid_rate', 'json_valid_rate'];
  var firstCheck = data.metrics.filter(function (m) { return /_pass_rate$/.test(m.name); })[0];
  var initial = firstCheck ? firstCheck.name : preferred.filter(function (p) { return metricNames.indexOf(p) >= 0; })[0] || metricNames[0];
  if (initial) select.value = initial;
  var axes = data.axes || [];
  var axisNames = axes.map(function (a) { return a.param; });
  function axisSelect(id) {
    return el('select', { id: id }, [el('option', { value: '', text: '(none)' })].concat(axisNames.map(function (n) { return el('option', { value: n, text: n }); })));
  }
  var ySelect = axisSelect('heatmap-y');
  var xSelect = axisSelect('heatmap-x');
  var both = axisNames.indexOf('temperature') >= 0 && axisNames.indexOf('top_p') >= 0;
  ySelect.value = both ? 'temperature' : axisNames[0] || '';
  xSelect.value = both ? 'top_p' : axisNames.filter(function (n) { return n !== ySelect.value; })[0] || '';
  hmSection.appendChild(el('div', null, [el('label', null, ['metric ', select]), ' ', el('label', null, ['rows ', ySelect]), ' ', el('label', null, ['columns ', xSelect])]));
  var filterBox = el('div', { id: 'heatmap-filters' });
  hmSection.appendChild(filterBox);
  var filters = {};
  axes.forEach(function (a) {
    var f = el('select', { id: 'heatmap-filter-' + a.param, 'data-axis': a.param }, a.values.map(function (v) { return el('option', { value: v, text: v }); }));
    filters[a.param] = el('label', null, [a.param + ' ', f]);
    filters[a.param].select = f;
    f.addEventListener('change', drawHeatmaps);
  });
  var hmBox = el('div', { id: 'heatmaps' });
  hmSection.appendChild(hmBox);
  function valuesOf(param) {
    if (!param) return [null];
    for (var i = 0; i < axes.length; i++) if (axes[i].param === param) return axes[i].values;
    return [null];
  }
  function drawHeatmaps() {
    var metric = select.value;
    var def = data.metrics.filter(function (m) { return m.name === metric; })[0] || { direction: 'higher' };
    var yAxis = ySelect.value;
    var xAxis = xSelect.value === yAxis ? '' : xSelect.value;
    hmBox.textContent = '';
    filterBox.textContent = '';
    var fixed = axisNames.filter(function (n) { return n !== xAxis && n !== yAxis; });
    fixed.forEach(function (n) { filterBox.appendChild(filters[n]); filterBox.appendChild(document.createTextNode(' ')); });
    function inSquare(c, y, x) {
      if (yAxis && c.axes[yAxis] !== y) return false;
      if (xAxis && c.axes[xAxis] !== x) return false;
      return fixed.every(function (n) { return c.axes[n] === filters[n].select.value; });
    }
    var rows = valuesOf(yAxis).map(function (y) {
      return el('tr', null, [el('th', { text: yAxis ? y : 'all' })].concat(valuesOf(xAxis).map(function (x) {
        var here = data.cells.filter(function (c) { return inSquare(c, y, x); });
        var shown = here.filter(function (c) { return c.rates[metric] && c.rates[metric].n; });
        if (!shown.length) return td('–', 'hm empty', here.map(function (c) { return c.id; }).join(', '));
        var square = td('', 'hm', shown.map(function (c) { return c.id + ': ' + metricTitle(c.rates[metric]); }).join('\n'));
        square.setAttribute('data-cells', String(shown.length));
        shown.forEach(function (c, i) {
          var r = c.rates[metric];
          var v = metricValue(r);
          if (i) square.appendChild(el('br'));
          square.appendChild(document.createTextNode(metricText(r)));
          if (i === 0) {
            var good = def.direction === 'lower' ? 1 - v : v;
            square.style.background = 'hsl(' + Math.round(120 * good) + ', 65%, ' + (def.direction === 'none' ? 85 : 72) + '%)';
          }
        });
        return square;
      })));
    });
    var head = el('tr', null, [el('th', { text: (yAxis || '') + ' \\ ' + (xAxis || '') })].concat(valuesOf(xAxis).map(function (x) { return el('th', { text: xAxis ? x : 'all' }); })));
    hmBox.appendChild(el('div', { className: 'hm-model' }, [el('table', { className: 'heatmap' }, [el('thead', null, [head]), el('tbody', null, rows)])]));
  }
  [select, ySelect, xSelect].forEach(function (s) { s.addEventListener('change', drawHeatmaps); });
  drawHeatmaps();

  // Latency distribution per cell: 5–95% and 25–75% ranges with the median
  var latSection = section('latency', 'Latency per cell (ms)', data.latency_note || 'Per request: thin bar 5th–95th percentile, thick bar 25th–75th, tick the median. Failed requests are left out.');
  var q = function (c, i) { return c.latency[i]; };
  if (!data.latency_note) charts.push(new Chart(chartBox(latSection, barHeight()), {
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

  // Which to pick: every cell's quality against its cost, the frontier (no other cell is both better and cheaper)
  // drawn as a line through its cells, cheapest first.
  var pk = s.pick;
  if (pk && data.cells.length > 1) {
    var costLabels = { cost_per_1k_rows: 'USD per 1,000 rows', tokens_per_1k_rows: 'tokens per 1,000 rows', latency_p95_ms: 'p95 latency (ms)', latency_p50_ms: 'p50 latency (ms)', latency_mean_ms: 'mean latency (ms)' };
    var costLabel = costLabels[pk.cost] || pk.cost;
    var isRate = pk.metric.slice(-3) !== '_ms';
    var pkNote = 'Each point is a cell: ' + pk.metric + (pk.direction === 'lower' ? ' (lower is better)' : '') + ' against ' + costLabel + '. The line joins the frontier: the best at each price, cheapest first.' +
      (pk.note ? ' Note: ' + pk.note + '.' : '') + (pk.not_placed.length ? ' Not placed (nothing measured): ' + pk.not_placed.join(', ') + '.' : '');
    var pkSection = section('pick', 'Which to pick: quality against cost', pkNote);
    if (data.recommendation) { var rec = pkSection.appendChild(el('p', { className: 'recommended', text: data.recommendation })); rec.id = 'pick-recommended'; }
    var placed = data.cells.filter(function (c) { return c.pick.metric != null && c.pick.cost != null; });
    var point = function (c) { return { x: c.pick.cost, y: c.pick.metric, id: c.id }; };
    var byId = {};
    placed.forEach(function (c) { byId[c.id] = c; });
    var frontierCells = pk.frontier.map(function (id) { return byId[id]; }).filter(Boolean);
    var fmtCost = function (v) { return pk.cost === 'cost_per_1k_rows' ? usd(v) : num(v); };
    var fmtMetric = function (v) { return isRate ? pct(v) : num(v); };
    charts.push(new Chart(chartBox(pkSection, 420), {
      type: 'scatter',
      data: {
        datasets: [
          { label: 'frontier: best at each price', data: frontierCells.map(point), showLine: true, borderColor: '#c62828', backgroundColor: '#c62828', pointStyle: 'rectRot', pointRadius: 7, borderWidth: 2 },
          { label: 'other cells', data: placed.filter(function (c) { return !c.pick.frontier; }).map(point), backgroundColor: 'rgba(30,136,229,0.55)', pointRadius: 4 },
        ],
      },
      options: {
        animation: false, maintainAspectRatio: false,
        scales: {
          x: { title: { display: true, text: costLabel }, ticks: { callback: function (v) { return fmtCost(v); } } },
          y: { title: { display: true, text: pk.metric }, ticks: { callback: function (v) { return fmtMetric(v); } } },
        },
        plugins: { tooltip: { callbacks: { label: function (ctx) { return ctx.raw.id + ': ' + fmtMetric(ctx.raw.y) + ' at ' + fmtCost(ctx.raw.x); } } } },
      },
    }));
    var pkTable = pkSection.appendChild(table([costLabel, pk.metric, 'cell'], pk.best_at_each_price.map(function (p) {
      return el('tr', null, [td(fmtCost(p.cost), 'num'), td(fmtMetric(p.metric), 'num'), td(p.cell, 'id')]);
    })));
    pkTable.id = 'pick-table';
  }

  // Comparison
  if (data.comparison) {
    var cmpSection = section('comparison', 'Comparison with the baseline ' + data.comparison.baseline, data.comparison.method);
    var significantOnly = el('input', { type: 'checkbox', id: 'comparison-significant-only' });
    var nSig = data.comparison.rows.filter(function (r) { return r.significant; }).length;
    cmpSection.appendChild(el('label', null, [significantOnly, ' hide rows with no significant difference (' + plural(nSig, 'significant row') + ' of ' + data.comparison.rows.length + ')']));
    var cmpTable = cmpSection.appendChild(table(
      ['metric', 'cell', 'baseline', 'value', 'diff [interval at the Holm level]', 'rows', 'p', 'p (Holm)', 'verdict'],
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
    cmpTable.id = 'comparison-table';
    significantOnly.addEventListener('change', function () {
      Array.prototype.forEach.call(cmpTable.tBodies[0].rows, function (tr, i) {
        tr.style.display = significantOnly.checked && !data.comparison.rows[i].significant ? 'none' : '';
      });
    });
  }

  // Agreement with people
  if (data.agreement && data.agreement.rows.length) {
    var aSection = section('agreement', 'Agreement with people', data.agreement.heading + '.');
    aSection.appendChild(table(['metric', 'cell', 'κ [95% interval]', 'n', 'labelled, unscored'], data.agreement.rows.map(function (r) {
      return el('tr', { className: r.cell === null ? 'overall' : '' }, [td(r.check + '_kappa'), td(r.cell === null ? 'all cells' : r.cell, 'id'), td(r.text), td(String(r.n), 'num'), td(String(r.unscored), 'num')]);
    })));
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
  var fSection = section('failing', 'Failing choices', f.shown.length + ' shown of ' + plural(f.total, 'failing choice') + ' (the first few of each cell), with the input row they answered. Content is shown as text, exactly as answered.');
  var cellFilter = el('select', { id: 'failing-cell' }, [el('option', { value: '', text: 'all cells' })].concat(labels.map(function (id) { return el('option', { value: id, text: id }); })));
  fSection.appendChild(el('label', null, ['cell ', cellFilter]));
  var fBody = el('tbody');
  fSection.appendChild(el('table', { className: 'failing', id: 'failing-table' }, [el('thead', null, [el('tr', null, ['cell', 'row', 'input', '#', 'finish_reason', 'failed', 'content', 'detail'].map(function (h) { return el('th', { text: h }); }))]), fBody]));
  function drawFailing() {
    fBody.textContent = '';
    f.shown.filter(function (x) { return !cellFilter.value || x.cell === cellFilter.value; }).forEach(function (x) {
      var input = x.input ? Object.keys(x.input).map(function (k) { var v = x.input[k]; return k + ': ' + (typeof v === 'string' ? v : JSON.stringify(v)); }).join('\n') : '(not recorded)';
      var detail = el('td', null, x.detail ? [el('div', { text: x.detail })] : []);
      (x.expected || []).forEach(function (e) {
        var got = 'got' in e ? 'got ' + JSON.stringify(e.got) : 'got no value there';
        detail.appendChild(el('div', { className: 'expected-got', text: e.check + ': expected ' + JSON.stringify(e.expected) + ', ' + got }));
      });
      fBody.appendChild(el('tr', null, [
        td(x.cell, 'id'), el('td', { className: 'id' }, [viewLink(x.row_id, 'seq', String(x.seq), 'this row, every cell side by side, in evalrun view (evalrun view DIR)')]),
        el('td', null, [el('pre', { className: 'input', text: input })]),
        td(String(x.choice_index), 'num'), td(x.finish_reason), td(x.failed.join(', ')),
        el('td', null, [el('pre', { className: 'content', text: x.content == null ? '(no content)' : x.content })]),
        detail,
      ]));
    });
  }
  cellFilter.addEventListener('change', drawFailing);
  drawFailing();
  document.body.setAttribute('data-ready', '1');
})();
`;
