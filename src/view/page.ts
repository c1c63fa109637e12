/**
 * The viewer's page: static HTML, one stylesheet and one script, all served by the viewer under a CSP that allows
 * only them. The script builds the page from /api JSON with createElement and textContent only: a row or an answer
 * holding `<img src=x onerror=...>` shows as those characters. Plain ES2017 in a String.raw, so no backticks in it.
 */
export const PAGE_HTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>evalrun view</title>
<link rel="stylesheet" href="/app.css">
</head>
<body data-state="loading">
<header><h1 id="title">evalrun view</h1><ul id="facts"></ul><p id="notice" hidden></p></header>
<main>
<form id="filters" autocomplete="off">
  <fieldset id="cells-pick"><legend>cells (columns; none ticked: all)</legend></fieldset>
  <div class="controls">
    <label>verdict <select id="f-check"><option value="">(any)</option><option value="*">any check</option></select></label>
    <select id="f-verdict" aria-label="fails or passes"><option value="fail">fails</option><option value="pass">passes</option></select>
    <label>finish_reason <select id="f-finish"><option value="">(any)</option></select></label>
    <label>text <input id="f-text" type="search" placeholder="in inputs or answers"></label>
    <label>disagree: <select id="f-a" aria-label="first cell"><option value="">(cell)</option></select></label>
    <label>vs <select id="f-b" aria-label="second cell"><option value="">(cell)</option></select></label>
    <label>on <select id="f-on"><option value="answers">answers</option><option value="verdicts">verdicts</option></select></label>
    <label>rows a page <select id="f-limit"><option>5</option><option selected>10</option><option>25</option><option>50</option><option>100</option></select></label>
    <button id="apply" type="submit">Apply</button> <button id="clear" type="button">Clear</button>
  </div>
</form>
<nav id="pager"><button id="prev" type="button">&larr; previous</button> <span id="status"></span> <button id="next" type="button">next &rarr;</button></nav>
<div id="rows"></div>
</main>
<script src="/app.js"></script>
</body>
</html>
`;

export const PAGE_CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1c2430; background: #f6f7f9; }
header { background: #1c2430; color: #fff; padding: 12px 24px; }
header h1 { margin: 0 0 4px; font-size: 19px; }
header ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 18px; color: #cfd6e0; }
#notice { margin: 6px 0 0; color: #ffcc80; }
main { padding: 8px 24px 40px; }
form { background: #fff; border: 1px solid #dde2e8; border-radius: 6px; padding: 8px 12px; margin: 12px 0; }
fieldset { border: 0; padding: 0; margin: 0 0 6px; display: flex; flex-wrap: wrap; gap: 2px 14px; font-size: 12.5px; }
legend { font-weight: 600; padding: 0; margin-bottom: 2px; }
.controls { display: flex; flex-wrap: wrap; gap: 6px 12px; align-items: center; font-size: 13px; }
#pager { display: flex; gap: 12px; align-items: center; margin: 8px 0; }
section.row { background: #fff; border: 1px solid #dde2e8; border-radius: 6px; padding: 10px 14px; margin: 14px 0; overflow-x: auto; }
section.row h2 { font-size: 15px; margin: 0 0 6px; font-family: ui-monospace, Menlo, Consolas, monospace; }
.note { color: #b71c1c; font-size: 12.5px; margin: 0 0 6px; }
.muted { color: #5b6675; font-size: 12px; }
table { border-collapse: collapse; font-size: 12.5px; }
th, td { border-bottom: 1px solid #e6e9ee; padding: 4px 8px; text-align: left; vertical-align: top; }
table.input th { color: #37474f; white-space: nowrap; }
table.answers { table-layout: fixed; }
table.answers th { background: #f0f2f5; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
table.answers td { width: 340px; min-width: 260px; }
td.focus, th.focus { outline: 3px solid #1e88e5; outline-offset: -3px; }
pre { margin: 0; white-space: pre-wrap; word-break: break-word; font-size: 12px; max-height: 320px; overflow: auto; }
pre.content { background: #f7f8fa; padding: 4px 6px; }
.choice { border-top: 1px dashed #dde2e8; padding: 4px 0; }
.choice:first-of-type { border-top: 0; }
.badges { display: flex; flex-wrap: wrap; gap: 3px; margin: 2px 0 4px; }
.badge { border-radius: 3px; padding: 0 5px; font-size: 11.5px; background: #eceff1; }
.pass { background: #e8f5e9; color: #1b5e20; } .fail { background: #fdecea; color: #b71c1c; font-weight: 600; } .none { color: #78909c; }
.reason { font-size: 12px; color: #37474f; margin: 2px 0; }
.error { color: #b71c1c; }
.diff-box { margin-top: 8px; font-size: 12.5px; }
.diff { margin-top: 6px; background: #fafafa; border: 1px solid #e6e9ee; padding: 6px; }
.diff ins { background: #c8e6c9; text-decoration: none; } .diff del { background: #ffcdd2; }
`;

export const PAGE_SCRIPT = String.raw`
(function () {
  'use strict';
  var run = null;
  var state = {};
  var last = null;
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (attrs[k] == null) continue;
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'className') node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c != null) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return node;
  }
  function fmt(n) { return Number(n).toLocaleString('en-US'); }
  function busy(on) { document.body.setAttribute('data-state', on ? 'loading' : 'ready'); }
  function getJson(path) {
    return fetch(path, { headers: { Accept: 'application/json' } }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body && body.error ? body.error : 'HTTP ' + r.status);
        return body;
      });
    });
  }

  // The state lives in the address: a link from report.html (?seq=…, ?cell=…) or a copied URL opens the same view.
  function readState() {
    var q = new URLSearchParams(location.search);
    return {
      cells: q.getAll('cell'), check: q.get('check') || '', verdict: q.get('verdict') || 'fail', finish: q.get('finish') || '',
      text: q.get('q') || '', a: q.get('a') || '', b: q.get('b') || '', on: q.get('on') || 'answers',
      offset: Number(q.get('offset')) || 0, limit: Number(q.get('limit')) || 10, seq: q.get('seq'),
    };
  }
  function query(s, forApi) {
    var q = new URLSearchParams();
    s.cells.forEach(function (c) { q.append('cell', c); });
    if (s.check) { q.set('check', s.check); q.set('verdict', s.verdict); }
    if (s.finish) q.set('finish', s.finish);
    if (s.text) q.set('q', s.text);
    if (s.a && s.b) { q.set('a', s.a); q.set('b', s.b); q.set('on', s.on); }
    if (s.seq != null && s.seq !== '') {
      if (forApi) q.set('row', String(Math.floor(Number(s.seq) / run.cells.length)));
      else q.set('seq', s.seq);
    }
    q.set('offset', String(s.offset));
    q.set('limit', String(s.limit));
    return q.toString();
  }

  function fillForm() {
    var boxes = document.querySelectorAll('#cells-pick input');
    Array.prototype.forEach.call(boxes, function (b) { b.checked = state.cells.indexOf(b.value) >= 0; });
    $('f-check').value = state.check; $('f-verdict').value = state.verdict; $('f-finish').value = state.finish;
    $('f-text').value = state.text; $('f-a').value = state.a; $('f-b').value = state.b; $('f-on').value = state.on;
    $('f-limit').value = String(state.limit);
  }
  function readForm() {
    var cells = [];
    Array.prototype.forEach.call(document.querySelectorAll('#cells-pick input'), function (b) { if (b.checked) cells.push(b.value); });
    return {
      cells: cells, check: $('f-check').value, verdict: $('f-verdict').value, finish: $('f-finish').value, text: $('f-text').value.trim(),
      a: $('f-a').value, b: $('f-b').value, on: $('f-on').value, offset: 0, limit: Number($('f-limit').value) || 10, seq: null,
    };
  }

  function setup(info) {
    run = info;
    document.title = 'evalrun view: ' + info.name;
    $('title').textContent = 'evalrun view: ' + info.name;
    [
      'status ' + info.status,
      fmt(info.cells.length) + ' cells × ' + fmt(info.rows) + ' rows',
      info.recorded == null ? fmt(info.requests) + ' requests planned' : fmt(info.recorded) + ' of ' + fmt(info.requests) + ' requests recorded',
    ].forEach(function (f) { $('facts').appendChild(el('li', { text: f })); });
    if (info.inputs_problem) { $('notice').textContent = 'Inputs: ' + info.inputs_problem; $('notice').hidden = false; }
    info.cells.forEach(function (c, i) {
      $('cells-pick').appendChild(el('label', null, [el('input', { type: 'checkbox', value: c.id, id: 'cell-' + i }), ' ' + c.id]));
      $('f-a').appendChild(el('option', { value: c.id, text: c.id }));
      $('f-b').appendChild(el('option', { value: c.id, text: c.id }));
    });
    info.verdicts.forEach(function (v) { $('f-check').appendChild(el('option', { value: v, text: v })); });
    info.finish_reasons.forEach(function (v) { $('f-finish').appendChild(el('option', { value: v, text: v })); });
  }

  function verdictBadge(name, v, score) {
    var mark = v === true ? '✓' : v === false ? '✗' : '–';
    var text = name + ' ' + mark + (typeof score === 'number' ? ' ' + score : '');
    return el('span', { className: 'badge verdict ' + (v === true ? 'pass' : v === false ? 'fail' : 'none'), 'data-check': name, 'data-verdict': v === true ? 'pass' : v === false ? 'fail' : 'none', text: text, title: v == null ? name + ': not graded' : name + (v ? ': passed' : ': failed') });
  }
  // Tokens and their details, whatever the server reported (prompt_tokens_details.cached_tokens, …); a detail is
  // shown only when it is not 0, or every answer would carry eight lines of zeros.
  function usageText(u, prefix) {
    if (!u || typeof u !== 'object') return [];
    var out = [];
    Object.keys(u).forEach(function (k) {
      var v = u[k];
      if (typeof v === 'number') { if (!prefix || v !== 0) out.push((prefix || '') + k + ' ' + fmt(v)); }
      else if (v && typeof v === 'object') out = out.concat(usageText(v, (prefix || '') + k + '.'));
    });
    return out;
  }
  function choiceNode(ch, answer) {
    var finish = answer.error || ch.error ? 'error' : ch.finish_reason == null ? 'null' : ch.finish_reason;
    var badges = el('div', { className: 'badges' }, [
      el('span', { className: 'badge finish ' + (finish === 'stop' || finish === 'tool_calls' ? 'pass' : 'fail'), 'data-finish': finish, text: 'finish_reason ' + finish }),
      verdictBadge('json_valid', ch.json_valid),
      verdictBadge('schema_valid', ch.schema_valid),
    ]);
    var checks = ch.checks || {};
    var scores = ch.check_scores || {};
    var names = run.checks.slice();
    Object.keys(checks).forEach(function (n) { if (names.indexOf(n) < 0) names.push(n); });
    names.forEach(function (n) { badges.appendChild(verdictBadge(n, n in checks ? checks[n] : null, scores[n])); });
    if (ch.tool_args_valid != null) badges.appendChild(verdictBadge('tool_args_valid', ch.tool_args_valid));
    var node = el('div', { className: 'choice', 'data-choice': String(ch.index) }, [el('div', { className: 'muted', text: 'choice ' + ch.index }), badges]);
    var reasons = ch.check_reasons || {};
    Object.keys(reasons).forEach(function (n) { node.appendChild(el('div', { className: 'reason', 'data-reason': n, text: n + ': ' + reasons[n] })); });
    var details = ch.check_details || {};
    Object.keys(details).forEach(function (n) {
      var d = details[n];
      node.appendChild(el('div', { className: 'reason', text: n + ': expected ' + JSON.stringify(d.expected) + ', ' + ('got' in d ? 'got ' + JSON.stringify(d.got) : 'got no value there') }));
    });
    if (ch.error) node.appendChild(el('div', { className: 'error', text: ch.error }));
    if (ch.schema_errors && ch.schema_errors.length) node.appendChild(el('div', { className: 'reason', text: 'schema: ' + ch.schema_errors.join('; ') }));
    if (ch.refusal != null) node.appendChild(el('div', { className: 'reason', text: 'refusal: ' + ch.refusal }));
    if (ch.tool_calls) ch.tool_calls.forEach(function (t) { node.appendChild(el('pre', { className: 'content tool', text: (t.type && t.type !== 'function' ? t.type + ' ' : '') + t.name + '(' + t.arguments + ')' })); });
    node.appendChild(el('pre', { className: 'content', text: ch.content == null ? '(no content)' : ch.content }));
    if (ch.cut && ch.cut.content) node.appendChild(el('div', { className: 'muted', text: 'cut: the answer has ' + fmt(ch.cut.content) + ' characters; the diff compares it whole' }));
    return node;
  }
  function answerCell(a, focus) {
    var td = el('td', { className: 'answer' + (focus ? ' focus' : ''), 'data-cell': a.cell });
    if (!a.recorded) { td.appendChild(el('div', { className: 'muted', text: 'not recorded (the run has not sent this request yet)' })); return td; }
    var meta = [
      a.latency_ms == null ? null : 'latency ' + fmt(a.latency_ms) + ' ms',
      a.attempts > 1 ? a.attempts + ' attempts' : null,
      a.cached ? 'from the cache' : null,
      a.model ? 'model ' + a.model : null,
    ].filter(Boolean).concat(usageText(a.usage));
    td.appendChild(el('div', { className: 'muted meta', text: meta.join(' · ') }));
    if (a.error) td.appendChild(el('div', { className: 'error', text: 'request failed (' + a.error.kind + (a.error.status ? ' ' + a.error.status : '') + '): ' + a.error.message }));
    (a.anomalies || []).forEach(function (x) { td.appendChild(el('div', { className: 'error', text: 'anomaly: ' + x.message })); });
    a.choices.forEach(function (ch) { td.appendChild(choiceNode(ch, a)); });
    return td;
  }
  function diffBox(r, cells) {
    var pickA = el('select', { className: 'diff-a', 'aria-label': 'diff: first cell' }, cells.map(function (c) { return el('option', { value: c, text: c }); }));
    var pickB = el('select', { className: 'diff-b', 'aria-label': 'diff: second cell' }, cells.map(function (c) { return el('option', { value: c, text: c }); }));
    if (cells.length > 1) pickB.value = cells[1];
    var n = Math.max.apply(null, [1].concat(r.answers.map(function (a) { return a.choices.length; })));
    var pickK = el('select', { className: 'diff-choice', 'aria-label': 'diff: choice' }, Array.apply(null, Array(n)).map(function (_, k) { return el('option', { value: String(k), text: 'choice ' + k }); }));
    var out = el('div', { className: 'diff', hidden: 'hidden' });
    var button = el('button', { type: 'button', className: 'diff-go', text: 'diff' });
    button.addEventListener('click', function () {
      busy(true);
      getJson('/api/diff?' + new URLSearchParams({ row: String(r.row), a: pickA.value, b: pickB.value, choice: pickK.value }).toString()).then(function (d) {
        out.textContent = '';
        out.hidden = false;
        out.appendChild(el('div', { className: 'muted', text: d.a + ' → ' + d.b + ', choice ' + d.choice + ' (by ' + d.by + '; deleted, inserted)' + (d.missing.length ? '; no such choice in ' + d.missing.join(', ') : '') }));
        if (!d.parts) out.appendChild(el('div', { text: 'the answers differ too much to diff in time' }));
        else {
          if (d.parts.every(function (p) { return !p.added && !p.removed; })) out.appendChild(el('div', { className: 'same', text: 'the two answers are identical' }));
          var pre = el('pre');
          d.parts.forEach(function (p) { pre.appendChild(el(p.added ? 'ins' : p.removed ? 'del' : 'span', { text: p.value })); });
          out.appendChild(pre);
        }
        busy(false);
      }, showError);
    });
    return el('div', { className: 'diff-box' }, ['diff ', pickA, ' → ', pickB, ' ', pickK, ' ', button, out]);
  }
  function rowNode(r, cells, focusCell) {
    var head = el('h2', { text: 'row ' + (r.id == null ? '(id unknown)' : r.id) }, [el('span', { className: 'muted', text: '  #' + (r.row + 1) })]);
    var s = el('section', { className: 'row', 'data-row': String(r.row), 'data-row-id': r.id == null ? '' : r.id }, [head]);
    if (r.input_note) s.appendChild(el('p', { className: 'note', text: r.input_note }));
    if (r.input) {
      s.appendChild(el('table', { className: 'input' }, [el('tbody', null, Object.keys(r.input).map(function (k) {
        var v = r.input[k];
        return el('tr', null, [el('th', { text: k }), el('td', null, [el('pre', { text: typeof v === 'string' ? v : JSON.stringify(v, null, 2) })])]);
      }))]));
      if (r.input_from === 'record') s.appendChild(el('p', { className: 'muted', text: 'input as a failing request recorded it (long values cut)' }));
    } else s.appendChild(el('p', { className: 'muted', text: 'input: not known (see the note at the top)' }));
    var headRow = el('tr', null, cells.map(function (c) { return el('th', { className: c === focusCell ? 'focus' : null, text: c }); }));
    var bodyRow = el('tr', null, r.answers.map(function (a) { return answerCell(a, a.cell === focusCell); }));
    s.appendChild(el('table', { className: 'answers' }, [el('thead', null, [headRow]), el('tbody', null, [bodyRow])]));
    if (cells.length > 1) s.appendChild(diffBox(r, cells));
    return s;
  }

  function showError(e) {
    $('status').textContent = 'error: ' + e.message;
    busy(false);
  }
  function render(page) {
    last = page;
    var box = $('rows');
    box.textContent = '';
    var focusCell = state.seq != null && state.seq !== '' ? run.cells[Number(state.seq) % run.cells.length].id : null;
    page.rows.forEach(function (r) { box.appendChild(rowNode(r, page.cells, focusCell)); });
    var from = page.offset + 1;
    var to = page.offset + page.rows.length;
    var total = page.total == null ? 'at least ' + fmt(page.offset + page.rows.length) : fmt(page.total);
    var text = page.rows.length ? 'rows ' + fmt(from) + '–' + fmt(to) + ' of ' + total : (page.complete ? 'no rows match' : 'no match yet');
    if (!page.complete) text += ' (scanning: ' + fmt(page.scanned) + ' of ' + fmt(run.rows) + ' rows read…)';
    else if (page.total == null) text += ' (' + fmt(page.scanned) + ' of ' + fmt(run.rows) + ' rows read)';
    $('status').textContent = text;
    $('prev').disabled = page.offset === 0;
    $('next').disabled = page.total == null ? page.rows.length < page.limit : to >= page.total;
    var focused = document.querySelector('td.focus');
    if (focused && focused.scrollIntoView) focused.scrollIntoView({ block: 'center', inline: 'center' });
  }
  // A filtered page scans the journal for a bounded time per request; until it has its rows, ask again.
  function load() {
    busy(true);
    var wanted = query(state, true);
    getJson('/api/rows?' + wanted).then(function (page) {
      if (wanted !== query(state, true)) return;
      render(page);
      if (!page.complete) setTimeout(load, 0);
      else {
        busy(false);
        if (page.provisional) setTimeout(function () { recheck(wanted); }, 500);
      }
    }, showError);
  }
  // A page served while records.jsonl was still being indexed is asked for again once; drawn again only if a
  // request recorded later in the file changed it.
  function recheck(wanted) {
    if (wanted !== query(state, true)) return;
    getJson('/api/rows?' + wanted).then(function (page) {
      if (wanted !== query(state, true)) return;
      if (page.provisional) { setTimeout(function () { recheck(wanted); }, 500); return; }
      var a = JSON.stringify(last.rows), b = JSON.stringify(page.rows);
      if (a !== b) render(page);
    }, showError);
  }
  function go(s) {
    state = s;
    history.replaceState(null, '', '?' + query(state, false));
    fillForm();
    load();
  }

  $('filters').addEventListener('submit', function (e) { e.preventDefault(); busy(true); go(readForm()); });
  $('clear').addEventListener('click', function () { busy(true); go({ cells: [], check: '', verdict: 'fail', finish: '', text: '', a: '', b: '', on: 'answers', offset: 0, limit: state.limit, seq: null }); });
  $('prev').addEventListener('click', function () { busy(true); go(Object.assign({}, state, { offset: Math.max(0, state.offset - state.limit) })); });
  $('next').addEventListener('click', function () { busy(true); go(Object.assign({}, state, { offset: state.offset + state.limit })); });

  getJson('/api/run').then(function (info) {
    setup(info);
    go(readState());
  }, showError);
  window.__evalrunView = { last: function () { return last; } };
})();
`;
