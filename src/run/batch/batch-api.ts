/**
 * The Files and Batch API calls the batch protocol makes, behind an interface (a fake implements it in the unit
 * tests of the protocol), and the adapter over the openai SDK. Every failure becomes a BatchApiError that says which
 * call, which URL, what status and what the server said, whatever shape its body had: a server without a Batch API
 * answers `{"detail":"Not Found"}` or an HTML page, which the SDK would report as "(no body)".
 */
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { APIError, toStreamingFile, type OpenAI } from 'openai';
import { redactUrl } from '../../util/redact.js';
import { sdkClient, type Endpoint } from '../provider.js';
import { streamingFetch } from './stream-fetch.js';
import { BATCH_URL } from './types.js';
import type { AttemptFailure } from '../retry.js';
import { BODY_START_CHARS, bounded } from '../api-error.js';

export type Batch = OpenAI.Batch;

export interface BatchApi {
  /** Uploads a JSONL file (purpose `batch`), streamed from disk. */
  uploadFile(path: string): Promise<{ id: string }>;
  createBatch(inputFileId: string, metadata: Record<string, string>): Promise<Batch>;
  retrieveBatch(id: string): Promise<Batch>;
  cancelBatch(id: string): Promise<Batch>;
  /** The account's batches, newest first. */
  listBatches(): AsyncIterable<Batch>;
  /** A file's bytes as they arrive; `signal` aborts the download (an idle body, Ctrl-C). */
  fileContent(id: string, signal: AbortSignal): Promise<{ contentType: string | null; body: AsyncIterable<Uint8Array> }>;
}

/** A Batch API call that failed: `status` undefined when no HTTP answer came (connection reset, refused, timeout). */
export class BatchApiError extends Error {
  readonly status: number | undefined;
  readonly method: string;
  readonly url: string;
  /** The server's body as it sent it (any JSON or text), cut and redacted. */
  readonly body: string | undefined;
  /** The answer's headers (Retry-After, x-should-retry), when there was an answer. */
  readonly headers: Headers | undefined;
  constructor(p: { status: number | undefined; method: string; url: string; body: string | undefined; message: string; cause?: unknown; headers?: Headers | undefined }) {
    super(p.message, { cause: p.cause });
    this.status = p.status;
    this.headers = p.headers;
    this.method = p.method;
    this.url = p.url;
    this.body = p.body;
  }
}

/** A Batch API call's failure as the retry policy judges it (retry.ts: no answer, 408, 409, 429, 5xx, x-should-retry); anything else is not the API's. */
export function batchFailure(e: unknown): AttemptFailure | undefined {
  return e instanceof BatchApiError ? { status: e.status, headers: e.headers } : undefined;
}

/**
 * What downloads accept: OpenAI serves result files as application/octet-stream, spec-driven servers (the OpenAPI
 * description says application/json) refuse the SDK's `application/binary` with 406.
 */
export const DOWNLOAD_ACCEPT = 'application/jsonl, application/json;q=0.9, application/octet-stream;q=0.8, */*;q=0.5';
/** The most of a server's error body kept for a message. */
const MAX_BODY_CHARS = 500;

interface Answer {
  method: string;
  url: string;
  status: number;
  body: string;
}

/** The SDK client over evalrun's streaming fetch, keeping the last error answer's body for the messages. */
export function openAiBatchApi(endpoint: Endpoint, timeoutMs: number, redact: (s: string) => string): BatchApi {
  let last: Answer | undefined;
  const fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const res = await streamingFetch(input, init);
    if (res.status < 400) return res;
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const body = await res.text().catch(() => '');
    last = { method: init.method ?? 'GET', url, status: res.status, body };
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  const client = sdkClient(endpoint, fetch, timeoutMs);
  const base = client.baseURL.replace(/\/+$/, '');
  const call = async <T>(method: string, path: string, fn: () => Promise<T>): Promise<T> => {
    last = undefined;
    try {
      return await fn();
    } catch (e) {
      throw toBatchApiError(e, method, `${base}${path}`, last, redact);
    }
  };
  // A 2xx whose body is not the object asked for (a gateway's HTML page: the SDK hands its text over) is an answer
  // lost, not an answer: treated as no answer, it is retried and a create is looked up before another is made.
  const object = async <T extends { id: string }>(method: string, path: string, fn: () => Promise<T>, what: string): Promise<T> => {
    const got = await call(method, path, fn);
    if (got && typeof got === 'object' && typeof (got as { id?: unknown }).id === 'string') return got;
    const shownUrl = redactUrl(`${base}${path}`);
    const text = typeof got === 'string' ? got : (JSON.stringify(got) ?? String(got));
    const start = bounded(redact(text.trim().replace(/\s+/g, ' ')), BODY_START_CHARS);
    throw new BatchApiError({ status: undefined, method, url: shownUrl, body: start, message: `${method} ${shownUrl}: the server answered ${last?.status ?? '2xx'}, not ${what}; its body begins: ${start}` });
  };
  return {
    uploadFile: (path) =>
      // toStreamingFile: the SDK's way to upload without reading the file (up to 200 MB) into memory first.
      object('POST', '/files', () => client.files.create({ file: toStreamingFile(createReadStream(path), basename(path)), purpose: 'batch' }), 'a file object'),
    createBatch: (inputFileId, metadata) =>
      object('POST', '/batches', () => client.batches.create({ input_file_id: inputFileId, endpoint: BATCH_URL, completion_window: '24h', metadata }), 'a batch'),
    retrieveBatch: (id) => object('GET', `/batches/${id}`, () => client.batches.retrieve(id), 'a batch'),
    cancelBatch: (id) => object('POST', `/batches/${id}/cancel`, () => client.batches.cancel(id), 'a batch'),
    async *listBatches() {
      const pages = await call('GET', '/batches', () => client.batches.list({ limit: 100 }));
      const it = pages[Symbol.asyncIterator]();
      for (;;) {
        const next = await call('GET', '/batches', () => it.next());
        if (next.done) return;
        yield next.value;
      }
    },
    fileContent: (id, signal) =>
      call('GET', `/files/${id}/content`, async () => {
        const res = await client.files.content(id, { signal, headers: { Accept: DOWNLOAD_ACCEPT } });
        return { contentType: res.headers.get('content-type'), body: (res.body ?? emptyBody()) as unknown as AsyncIterable<Uint8Array> };
      }),
  };
}

async function* emptyBody(): AsyncIterable<Uint8Array> {}

function toBatchApiError(e: unknown, method: string, url: string, last: Answer | undefined, redact: (s: string) => string): BatchApiError {
  const shownUrl = redactUrl(url);
  if (e instanceof APIError) {
    const body = last?.body !== undefined ? bounded(redact(last.body.trim().replace(/\s+/g, ' ')), MAX_BODY_CHARS) : undefined;
    const said = e.status === undefined ? `no answer (${redact(e.message)})` : `${e.status}${body ? `: ${body}` : ' with no body'}`;
    return new BatchApiError({ status: e.status, method, url: shownUrl, body, message: `${method} ${shownUrl}: ${said}`, cause: e, headers: e.headers });
  }
  if (e instanceof BatchApiError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new BatchApiError({ status: undefined, method, url: shownUrl, body: undefined, message: `${method} ${shownUrl}: ${redact(message)}`, cause: e });
}
