/**
 * The HTTP face of the simulator (node:http, no framework). Holds the state the pure model cannot: auth and key
 * expiry, rpm/tpm windows, per-body attempt counters for faults, latency timers, sockets and statistics.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, openSync, readSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { BatchStore, MAX_BATCH_FILE_BYTES, type LineAnswer, type Reply } from './batch.js';
import { removeQuietly } from './batch-disk.js';
import { errorReply, invalidRequest, invalidUrl, modelNotFound, unauthorized } from './errors.js';
import { hasFaults, latencyMs } from './faults.js';
import { checkSimulatorOptions } from '../contracts/simulator-options.js';
import { hashString } from './hash.js';
import { RateLimiter, SlidingWindow } from './rate-limit.js';
import { answerRequest, checkRequest, DEFAULT_MODELS, faultSeed } from './simulate.js';
import { requestedTokens } from './tokens.js';
import type { RunningSimulator, SimulatedReply, SimulatorOptions, SimulatorStats } from './types.js';
import { addBilled, emptyBilled, type BilledTokens } from '../contracts/prices.js';

const MAX_BODY_CHARS = 16 * 1024 * 1024;
/** Bounds the per-body attempt counters; clearing them only restarts a few bodies' fault sequences. */
const MAX_TRACKED_BODIES = 100_000;
const MODEL_CREATED = 1_700_000_000;

/** Where the last whole line ends at or before `limit` bytes into a file (0 when none does). */
function lastLineEnd(path: string, limit: number): number {
  if (limit <= 0) return 0;
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(limit);
    const n = readSync(fd, buf, 0, limit, 0);
    return buf.subarray(0, n).lastIndexOf(0x0a) + 1;
  } finally {
    closeSync(fd);
  }
}

const modelObject = (id: string) => ({ id, object: 'model', created: MODEL_CREATED, owned_by: 'evalrun-simulator' });

function bearer(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer\s+(.*)$/i.exec(header.trim());
  return m ? (m[1] ?? '').trim() : header;
}

/**
 * `countLines: false` leaves `stats.batchComputed` and `stats.batchSubmitted` empty: the simulator a run starts for
 * `provider: simulator` has no test reading them, and two maps of 200,000 custom_ids weigh ~30 MB in its process.
 * `now` is the Files and Batch APIs' clock (default Date.now): a test moves it on to end long batches at once.
 */
export async function startSimulator(options: SimulatorOptions = {}, internal: { countLines?: boolean; now?: () => number } = {}): Promise<RunningSimulator> {
  const countLines = internal.countLines ?? true;
  checkSimulatorOptions(options);
  const stats: SimulatorStats = {
    requests: 0,
    completions: 0,
    byStatus: {},
    maxInFlight: 0,
    inFlight: 0,
    perMinuteMax: 0,
    faults: {},
    batchLines: 0,
    batchComputed: Object.create(null) as Record<string, number>,
    batchSubmitted: Object.create(null) as Record<string, number>,
    served: Object.create(null) as Record<string, BilledTokens>,
  };
  /** A 200 answer's usage, as the provider would bill it. */
  const serve = (model: string, reply: SimulatedReply, batch: boolean) => {
    const u = reply.status === 200 && reply.body && typeof reply.body === 'object' ? (reply.body as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown; prompt_tokens_details?: { cached_tokens?: unknown } } }).usage : undefined;
    if (!u || typeof u.prompt_tokens !== 'number' || typeof u.completion_tokens !== 'number') return;
    const cached = typeof u.prompt_tokens_details?.cached_tokens === 'number' ? u.prompt_tokens_details.cached_tokens : 0;
    addBilled((stats.served[model] ??= emptyBilled()), u.prompt_tokens, cached, u.completion_tokens, batch);
  };
  const limiter = new RateLimiter(options.rpm, options.tpm, options.window_ms);
  const arrivals = new SlidingWindow(options.window_ms);
  const seen = new Map<number, number>();
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const modelIds = options.models ?? DEFAULT_MODELS;
  const modelsBody = JSON.stringify({ object: 'list', data: modelIds.map(modelObject) });
  const batchFaults = options.batch?.faults ?? options.faults;
  const batchOptions: SimulatorOptions = { ...options, ...(batchFaults ? { faults: batchFaults } : {}) };
  const trackBodies = hasFaults(options.faults) || options.latency !== undefined || hasFaults(batchOptions.faults);
  const idPrefix = randomBytes(8).toString('hex');
  let idCounter = 0;
  let objectCounter = 0;
  const nextRequestId = () => `req_${idPrefix}${(idCounter++).toString(16).padStart(16, '0')}`;
  const maxUploadBytes = options.batch?.max_file_bytes ?? MAX_BATCH_FILE_BYTES;
  let chatCount = 0;
  const count = (rec: Record<string, number>, key: string) => { rec[key] = (rec[key] ?? 0) + 1; };

  /** `headers` are the rate-limit headers when already known; otherwise the current ones are reported. */
  function send(res: http.ServerResponse, started: number, reply: SimulatedReply, headers?: Record<string, string>): void {
    if (res.destroyed || res.writableEnded) return;
    headers ??= limiter.active ? limiter.headers(Date.now()) : {};
    const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      ...headers,
      ...reply.headers,
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
      'x-request-id': nextRequestId(),
      'openai-processing-ms': String(Math.round(performance.now() - started)),
      'openai-version': '2020-10-01',
    });
    res.end(text);
    count(stats.byStatus, String(reply.status));
  }

  function chat(req: http.IncomingMessage, res: http.ServerResponse, started: number, raw: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = undefined;
    }
    const checked = checkRequest(parsed, options);
    if ('status' in checked) return send(res, started, errorReply(checked));
    const body = parsed as Record<string, unknown>;
    let headers: Record<string, string> | undefined;
    if (limiter.active) {
      const decision = limiter.admit(Date.now(), checked.model, requestedTokens(checked.promptTokens, checked.maxTokens, checked.n));
      if (decision.reject) {
        count(stats.faults, decision.limitedBy === 'tokens' ? 'tpm_limited' : 'rpm_limited');
        return send(res, started, decision.reject, decision.headers);
      }
      headers = decision.headers;
    }
    const { reply, fseed } = answerTracked(raw, body, checked, options);
    const deliver = (): void => {
      if (reply.fault === 'reset') return void req.socket.destroy();
      if (reply.fault === 'stall') return; // the socket stays open until the client gives up or close()
      if (reply.status === 200 && reply.fault === undefined) {
        stats.completions++;
        serve(checked.model, reply, false);
      }
      send(res, started, reply, headers);
    };
    // Latency is how long after its arrival the answer leaves: the time spent reading and answering counts in it.
    const delay = latencyMs(options.latency, fseed) - (performance.now() - started);
    if (delay <= 0) return deliver();
    const timer = setTimeout(() => {
      timers.delete(timer);
      deliver();
    }, delay);
    timers.add(timer);
  }

  /**
   * The model's answer with faults drawn per (body, k-th admission): a body that hit a fault walks on to its next
   * outcome when it is sent again, whether as a chat request or as a batch line.
   */
  function answerTracked(raw: string, body: Record<string, unknown>, checked: Parameters<typeof answerRequest>[1], opts: SimulatorOptions) {
    let fseed = 0;
    let key = 0;
    let attempt = 1;
    if (trackBodies) {
      const h = hashString(raw);
      key = h * 0x200000 + (hashString(raw, 0x5bd1e995) & 0x1fffff);
      attempt = (seen.get(key) ?? 0) + 1;
      fseed = faultSeed(h, attempt, options.seed);
    }
    const reply = answerRequest(body, checked, opts, fseed);
    if (trackBodies) {
      if (reply.fault === undefined) seen.delete(key);
      else {
        if (seen.size >= MAX_TRACKED_BODIES) seen.clear();
        seen.set(key, attempt);
      }
    }
    if (reply.fault !== undefined) count(stats.faults, reply.fault);
    return { reply, fseed };
  }

  /** One batch line through the chat code; auth, rpm/tpm and latency do not apply (the batch queue replaces them). */
  function answerLine(body: Record<string, unknown>, customId: string): LineAnswer {
    stats.batchLines++;
    if (countLines) stats.batchComputed[customId] = (stats.batchComputed[customId] ?? 0) + 1;
    const checked = checkRequest(body, batchOptions);
    if ('status' in checked) return { reply: errorReply(checked), requestId: nextRequestId() };
    const { reply } = answerTracked(JSON.stringify(body), body, checked, batchOptions);
    if (reply.fault === 'reset' || reply.fault === 'stall' || reply.fault === 'malformed') {
      return { error: { code: 'server_error', message: 'The server had an error while processing this request and returned no response.' } };
    }
    serve(checked.model, reply, true);
    return { reply, requestId: nextRequestId() };
  }

  const batches = new BatchStore({
    options: options.batch ?? {},
    dir: options.state_dir,
    answer: answerLine,
    onAccepted: countLines ? (customId) => count(stats.batchSubmitted, customId) : undefined,
    tokens: (body) => {
      const checked = checkRequest(body, batchOptions);
      return 'status' in checked ? 0 : requestedTokens(checked.promptTokens, checked.maxTokens, checked.n);
    },
    newId: (prefix) => `${prefix}${idPrefix}${(objectCounter++).toString(16).padStart(8, '0')}`,
    now: internal.now,
  });

  function sendStored(res: http.ServerResponse, started: number, r: Reply): void {
    if (r.file) return sendFile(res, started, r.file);
    send(res, started, { status: r.status, headers: {}, body: r.body });
  }

  /** A file's content, streamed from disk; `fault` spoils the download as a flaky network or gateway would. */
  function sendFile(res: http.ServerResponse, started: number, f: NonNullable<Reply['file']>): void {
    if (res.destroyed || res.writableEnded) return;
    const head = (status: number, type: string, length: number) => {
      res.writeHead(status, {
        'content-type': type,
        'content-length': String(length),
        'x-request-id': nextRequestId(),
        'openai-processing-ms': String(Math.round(performance.now() - started)),
        'openai-version': '2020-10-01',
      });
      count(stats.byStatus, String(status));
    };
    if (f.fault === 'html' || f.fault === 'server_error') {
      const page = `<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>\n`;
      head(f.fault === 'html' ? 200 : 502, 'text/html', Buffer.byteLength(page));
      res.end(page);
      return;
    }
    const half = Math.floor(f.bytes / 2);
    if (f.fault === undefined) {
      head(200, 'application/octet-stream', f.bytes);
      createReadStream(f.path).pipe(res);
      return;
    }
    let upTo = half;
    if (f.fault === 'short') upTo = lastLineEnd(f.path, half);
    // reset and stall announce the whole file and send half of it; short and cut are whole answers of a cut file.
    head(200, 'application/octet-stream', f.fault === 'reset' || f.fault === 'stall' ? f.bytes : upTo);
    const part = upTo > 0 ? createReadStream(f.path, { start: 0, end: upTo - 1 }) : undefined;
    const after = () => {
      if (f.fault === 'reset') res.socket?.destroy();
      else if (f.fault === 'short' || f.fault === 'cut') res.end();
      // stall: the socket stays open until the client gives up or close()
    };
    if (!part) return after();
    part.on('data', (chunk) => res.write(chunk));
    part.on('end', after);
  }

  /** The Files and Batch routes; false when the path is not one of theirs. */
  let lostCreateAnswers = 0;

  function batchRoute(method: string, path: string, query: URLSearchParams, raw: string, res: http.ServerResponse, started: number): boolean {
    const reply = (r: Reply) => {
      sendStored(res, started, r);
      return true;
    };
    const m = /^\/v1\/(files|batches)(?:\/([^/]+)(?:\/(content|cancel))?)?$/.exec(path);
    if (!m) return false;
    const [, kind, rawId, action] = m;
    let id = rawId;
    try {
      id = rawId === undefined ? undefined : decodeURIComponent(rawId);
    } catch {
      // a malformed escape: look the id up as sent
    }
    if (kind === 'files') {
      if (id === undefined && method === 'GET') return reply(batches.listFiles(query));
      if (id !== undefined && action === undefined && method === 'GET') return reply(batches.getFile(id));
      if (id !== undefined && action === undefined && method === 'DELETE') return reply(batches.deleteFile(id));
      if (id !== undefined && action === 'content' && method === 'GET') return reply(batches.fileContent(id));
      return false;
    }
    if (id === undefined && method === 'GET') return reply(batches.listBatches(query));
    if (id === undefined && method === 'POST') {
      let params: unknown;
      try {
        params = JSON.parse(raw);
      } catch {
        return reply({ status: 400, body: errorReply(invalidRequest('We could not parse the JSON body of your request.', null, null)).body });
      }
      const created = batches.createBatch(params);
      const lose = options.batch?.lose_create_answer;
      if (created.status === 200 && lostCreateAnswers < (lose?.times ?? (lose ? 1 : 0))) {
        lostCreateAnswers++;
        // A gateway's error after the upstream created the batch, or no answer at all.
        if (lose?.status !== undefined) return reply({ status: lose.status, body: { error: { message: 'upstream error', type: 'server_error', param: null, code: null } } });
        res.socket?.destroy();
        return true;
      }
      return reply(created);
    }
    if (id !== undefined && action === undefined && method === 'GET') return reply(batches.getBatch(id));
    if (id !== undefined && action === 'cancel' && method === 'POST') return reply(batches.cancelBatch(id));
    return false;
  }

  /**
   * multipart/form-data through busboy, streamed: the file goes to disk as it arrives (a 200 MB upload is never in
   * memory), then the store takes it.
   */
  let uploads = 0;
  function upload(req: http.IncomingMessage, res: http.ServerResponse, started: number): void {
    const refuse = (message: string, param: string | null, code: string | null) => sendStored(res, started, { status: 400, body: errorReply(invalidRequest(message, param, code)).body });
    let form: busboy.Busboy;
    try {
      form = busboy({ headers: req.headers, limits: { files: 1, fileSize: maxUploadBytes + 1 } });
    } catch (e) {
      req.resume();
      return refuse(`Could not read the multipart upload: ${(e as Error).message}`, null, null);
    }
    let purpose: string | undefined;
    let saved: Promise<{ path: string; filename: string; tooLarge: boolean }> | undefined;
    form.on('field', (name, value) => {
      if (name === 'purpose') purpose = value;
    });
    form.on('file', (name, stream, info) => {
      if (name !== 'file' || saved) return void stream.resume();
      const path = join(batches.uploadDir(), `upload-${process.pid}-${uploads++}`);
      let tooLarge = false;
      stream.on('limit', () => (tooLarge = true));
      saved = pipeline(stream, createWriteStream(path)).then(() => ({ path, filename: info.filename ?? '', tooLarge }));
    });
    form.on('error', (e: Error) => refuse(`Could not read the multipart upload: ${e.message}`, null, null));
    form.on('close', () => {
      void (async () => {
        const file = await saved;
        if (!file) return refuse("Missing required parameter: 'file'.", 'file', 'missing_required_parameter');
        if (purpose === undefined) {
          removeQuietly(file.path);
          return refuse("Missing required parameter: 'purpose'.", 'purpose', 'missing_required_parameter');
        }
        if (file.tooLarge) {
          removeQuietly(file.path);
          return refuse(`File is too large: more than ${maxUploadBytes} bytes; the Batch API accepts at most ${maxUploadBytes} bytes.`, 'file', 'file_too_large');
        }
        sendStored(res, started, batches.addFile(file.filename, purpose, file.path));
      })().catch((err: unknown) => {
        send(res, started, errorReply({ status: 500, message: `The simulator failed on this upload: ${(err as Error)?.message}`, type: 'server_error', param: null, code: null }));
      });
    });
    req.pipe(form);
  }

  function route(req: http.IncomingMessage, res: http.ServerResponse, started: number, raw: string, ordinal: number, uploading = false): void {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q >= 0 ? url.slice(0, q) : url;
    const presented = bearer(req.headers.authorization);
    if (options.api_key !== undefined && presented !== options.api_key) return send(res, started, errorReply(unauthorized(presented)));
    const limit = options.fail_auth_after;
    if (limit !== undefined && (ordinal > 0 ? ordinal > limit : chatCount >= limit)) {
      return send(res, started, errorReply(unauthorized(presented ?? 'sk-expired-key')));
    }
    if (ordinal > 0) {
      if (raw.length > MAX_BODY_CHARS) {
        return send(res, started, errorReply({ status: 413, message: 'Request body too large.', type: 'invalid_request_error', param: null, code: null }));
      }
      return chat(req, res, started, raw);
    }
    if (uploading) return upload(req, res, started);
    if (batchRoute(method, path, new URLSearchParams(q >= 0 ? url.slice(q + 1) : ''), raw, res, started)) return;
    if (method === 'GET' && path === '/v1/models') return send(res, started, { status: 200, headers: {}, body: modelsBody });
    if (method === 'GET' && path.startsWith('/v1/models/')) {
      let id = path.slice('/v1/models/'.length);
      try {
        id = decodeURIComponent(id);
      } catch {
        // a malformed escape: look the id up as sent
      }
      if (modelIds.includes(id)) return send(res, started, { status: 200, headers: {}, body: modelObject(id) });
      return send(res, started, errorReply(modelNotFound(id, false)));
    }
    send(res, started, errorReply(invalidUrl(method, path)));
  }

  const server = http.createServer((req, res) => {
    const started = performance.now();
    stats.requests++;
    if (++stats.inFlight > stats.maxInFlight) stats.maxInFlight = stats.inFlight;
    res.once('close', () => void stats.inFlight--);
    let ordinal = 0; // 1-based index among chat requests, 0 for other routes
    if (req.method === 'POST' && (req.url === '/v1/chat/completions' || req.url?.startsWith('/v1/chat/completions?'))) {
      ordinal = ++chatCount;
      const now = Date.now();
      arrivals.add(now, 1);
      stats.perMinuteMax = Math.max(stats.perMinuteMax, arrivals.used(now));
    }
    if (req.method === 'POST' && (req.url === '/v1/files' || req.url?.startsWith('/v1/files?'))) {
      // Uploads are binary and up to 200 MB: streamed to disk, never read here.
      try {
        route(req, res, started, '', 0, true);
      } catch (err) {
        send(res, started, errorReply({ status: 500, message: `The simulator failed on this request: ${(err as Error)?.message}`, type: 'server_error', param: null, code: null }));
      }
      return;
    }
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      if (raw.length <= MAX_BODY_CHARS) raw += chunk; // past the limit keep draining, answer 413 at the end
    });
    req.on('end', () => {
      try {
        route(req, res, started, raw, ordinal);
      } catch (err) {
        // A simulator bug must not take down the process that embeds it (the CLI run, a test worker).
        const message = `The simulator failed on this request: ${err instanceof Error ? err.message : String(err)}`;
        send(res, started, errorReply({ status: 500, message, type: 'server_error', param: null, code: null }));
      }
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const host = options.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/v1`,
    port,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        batches.dispose();
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
