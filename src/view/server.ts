import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { diffLines, diffWordsWithSpace } from 'diff';
import { UsageError } from '../errors.js';
import { FilterScan, filterKey, isActive, VERDICTS, type FilterSpec } from './filters.js';
import { PAGE_CSS, PAGE_HTML, PAGE_SCRIPT } from './page.js';
import { RunView, type InputSource } from './run-view.js';

export interface ViewerOptions {
  dir: string;
  /** 0: any free port. */
  port: number;
  /** The rows' input values; a promise to index the journal while they are being found. */
  inputs?: InputSource | Promise<InputSource> | undefined;
}

export interface Viewer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Loopback only: the viewer shows model output and dataset rows to whoever can reach it. */
const HOST = '127.0.0.1';
const PAGE_LIMIT = 100;
/** How long one request may scan the journal for a filter's matches before it answers with what it found. */
const SCAN_BUDGET_MS = 700;
const FINISH_REASONS = ['stop', 'length', 'content_filter', 'tool_calls', 'function_call', 'error', 'null'];

/** The page's policy: its own script and style only, requests to this origin only, no frames, no forms. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

class BadRequest extends Error {}

/**
 * `evalrun view`: a read-only HTTP server over a run directory, on 127.0.0.1. The page is static; the rows come from
 * /api/rows, a page at a time, read from records.jsonl by byte offset. Everything is sent as JSON and the page puts
 * it in the document as text only, so model output and dataset values never become markup.
 */
export async function startViewer(options: ViewerOptions): Promise<Viewer> {
  const view = await RunView.open(options.dir, options.inputs);
  const scans = new Map<string, FilterScan>();
  const scanFor = (spec: FilterSpec): FilterScan => {
    const key = filterKey(spec);
    let scan = scans.get(key);
    if (scan) scans.delete(key);
    else scan = new FilterScan(view, spec);
    scans.set(key, scan); // most recently used last; the oldest go beyond a few
    if (scans.size > 8) scans.delete(scans.keys().next().value!);
    return scan;
  };
  let port = options.port;

  const routes: Record<string, (q: URLSearchParams) => Promise<unknown>> = {
    '/api/run': () => Promise.resolve(runInfo(view)),
    '/api/rows': (q) => rows(view, q, scanFor),
    '/api/diff': (q) => diff(view, q),
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((e: unknown) => send(res, 500, 'application/json', JSON.stringify({ error: (e as Error).message })));
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Another site's page could otherwise reach this server through a name that resolves to 127.0.0.1.
    const host = req.headers.host ?? '';
    if (host !== `${HOST}:${port}` && host !== `localhost:${port}`) return send(res, 403, 'text/plain', 'evalrun view answers requests for 127.0.0.1 only\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'evalrun view is read-only\n', { Allow: 'GET, HEAD' });
    const url = new URL(req.url ?? '/', `http://${HOST}`);
    if (url.pathname === '/') return send(res, 200, 'text/html; charset=utf-8', PAGE_HTML, { 'Content-Security-Policy': CSP });
    if (url.pathname === '/app.js') return send(res, 200, 'text/javascript; charset=utf-8', PAGE_SCRIPT);
    if (url.pathname === '/app.css') return send(res, 200, 'text/css; charset=utf-8', PAGE_CSS);
    if (url.pathname === '/report.html') {
      // The run's own report, whose links then come back to this server whatever its port; it carries its own CSP.
      const html = await readFile(join(options.dir, 'report.html'), 'utf8').catch(() => undefined);
      return html === undefined ? send(res, 404, 'text/plain', 'this run has no report.html yet (evalrun report DIR writes it)\n') : send(res, 200, 'text/html; charset=utf-8', html);
    }
    const route = routes[url.pathname];
    if (!route) return send(res, 404, 'text/plain', 'not found\n');
    try {
      send(res, 200, 'application/json', JSON.stringify(await route(url.searchParams)));
    } catch (e) {
      if (e instanceof BadRequest) send(res, 400, 'application/json', JSON.stringify({ error: e.message }));
      else throw e;
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      void view.close();
      reject(e.code === 'EADDRINUSE' ? new UsageError(`port ${options.port} on ${HOST} is in use (another evalrun view?); choose another with --port N, or --port 0 for any free port`) : e);
    });
    server.listen(options.port, HOST, () => resolve());
  });
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://${HOST}:${port}/`,
    port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await view.close();
    },
  };
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
    'X-Frame-Options': 'DENY',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function runInfo(view: RunView) {
  const m = view.manifest;
  return {
    name: m.name,
    status: m.status,
    rows: view.rows,
    row_start: view.rowStart,
    requests: m.shard?.requests ?? m.plan.requests,
    /** null while the journal is still being indexed. */
    recorded: view.indexDone ? view.index.count : null,
    cells: view.cells.map((c) => ({ id: c.id, n: c.n, ...(c.prompt !== undefined ? { prompt: c.prompt } : {}) })),
    checks: view.checks,
    verdicts: [...VERDICTS, ...view.checks],
    finish_reasons: FINISH_REASONS,
    inputs_problem: view.inputsProblem ?? null,
    busy: view.busy,
  };
}

function cellIndex(view: RunView, id: string, what: string): number {
  const i = view.cells.findIndex((c) => c.id === id);
  if (i < 0) throw new BadRequest(`${what}: no cell '${id}' in this run`);
  return i;
}

function integer(q: URLSearchParams, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = q.get(name);
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new BadRequest(`${name} must be a whole number from 0 to ${max} (got '${raw}')`);
  return n;
}

function filterOf(view: RunView, q: URLSearchParams): FilterSpec {
  const picked = q.getAll('cell').map((id) => cellIndex(view, id, 'cell'));
  const cells = picked.length ? picked : view.cells.map((_, i) => i);
  const check = q.get('check') || undefined;
  if (check !== undefined && check !== '*' && ![...VERDICTS, ...view.checks].includes(check)) throw new BadRequest(`check: no check '${check}' in this run`);
  const verdict = q.get('verdict') === 'pass' ? 'pass' : 'fail';
  const a = q.get('a');
  const b = q.get('b');
  const disagree = a && b ? { a: cellIndex(view, a, 'a'), b: cellIndex(view, b, 'b'), on: q.get('on') === 'verdicts' ? ('verdicts' as const) : ('answers' as const) } : undefined;
  return { cells, check, verdict, finish: q.get('finish') || undefined, text: q.get('q') || undefined, disagree };
}

async function rows(view: RunView, q: URLSearchParams, scanFor: (spec: FilterSpec) => FilterScan) {
  const spec = filterOf(view, q);
  const offset = integer(q, 'offset', 0);
  const limit = integer(q, 'limit', 10, PAGE_LIMIT);
  const one = q.get('row');
  let found: { rows: number[]; total: number | null; scanned: number; complete: boolean };
  if (one !== null && one !== '') {
    const row = integer(q, 'row', 0);
    const inRun = row >= view.rowStart && row < view.rowEnd;
    found = { rows: inRun ? [row] : [], total: inRun ? 1 : 0, scanned: 1, complete: true };
  } else if (!isActive(spec)) {
    const start = view.rowStart + offset;
    const end = Math.min(view.rowEnd, start + limit);
    found = { rows: Array.from({ length: Math.max(0, end - start) }, (_, i) => start + i), total: view.rows, scanned: view.rows, complete: true };
  } else {
    found = await scanFor(spec).page(offset, limit, SCAN_BUDGET_MS);
  }
  // Read before the index pass ended: a request recorded again later in the file (--retry-errors) may differ. Taken
  // before the rows are read: a pass ending while they are read must not vouch for what was read before it ended.
  const provisional = !view.indexDone;
  const shown = await Promise.all(found.rows.map((row) => view.view(row, spec.cells)));
  return {
    offset,
    limit,
    provisional,
    total: found.total,
    scanned: found.scanned,
    complete: found.complete,
    cells: spec.cells.map((c) => view.cells[c]!.id),
    rows: shown,
  };
}

/** What a choice said, as one text: its content, refusal or tool calls (pretty JSON when it is JSON). */
function choiceText(c: { content: string | null; refusal: string | null; tool_calls: unknown } | undefined): string {
  if (!c) return '';
  const text = c.content ?? c.refusal ?? (c.tool_calls ? JSON.stringify(c.tool_calls) : '');
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object') return JSON.stringify(parsed, null, 2);
  } catch {
    // not JSON: compared as written
  }
  return text;
}

async function diff(view: RunView, q: URLSearchParams) {
  const row = integer(q, 'row', 0);
  if (row < view.rowStart || row >= view.rowEnd) throw new BadRequest(`row ${row} is not in this run`);
  const a = cellIndex(view, q.get('a') ?? '', 'a');
  const b = cellIndex(view, q.get('b') ?? '', 'b');
  const choice = integer(q, 'choice', 0);
  const records = await view.records(row);
  const pick = (c: number) => records[c]?.choices.find((x) => x.index === choice);
  const [x, y] = [pick(a), pick(b)];
  const left = choiceText(x);
  const right = choiceText(y);
  // JSON (pretty-printed) and other many-line answers compare line by line; prose word by word.
  const byLine = left.includes('\n') || right.includes('\n');
  const options = { timeout: 1000 };
  const parts = byLine ? diffLines(left, right, options) : diffWordsWithSpace(left, right, options);
  return {
    row,
    a: view.cells[a]!.id,
    b: view.cells[b]!.id,
    choice,
    missing: [...(x ? [] : [view.cells[a]!.id]), ...(y ? [] : [view.cells[b]!.id])],
    by: byLine ? 'line' : 'word',
    parts: parts?.map((p) => ({ value: p.value, ...(p.added ? { added: true } : {}), ...(p.removed ? { removed: true } : {}) })) ?? null,
  };
}
