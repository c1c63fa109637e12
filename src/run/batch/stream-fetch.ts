/**
 * A `fetch` for the Batch API client (the SDK's public `fetch` option) over node:http, for one reason: an upload's
 * body is piped to the socket with backpressure, so a 200 MB input file is never in memory. With the built-in fetch
 * the whole multipart body was queued in memory while the server read it (the file's size in external memory per
 * upload, measured in test/bench RESULTS.md "Batch mode"). Responses are streamed (result files are read line by line).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ReadableStream as WebReadableStream, type ReadableStream as NodeReadableStream } from 'node:stream/web';

/** Statuses whose response has no body by definition: `Response` refuses one. */
const NO_BODY = new Set([101, 204, 205, 304]);

export async function streamingFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, key) => (headers[key] = value));
  const body = init.body;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<Response>((resolve, reject) => {
    const req = send(url, { method: init.method ?? 'GET', headers, ...(init.signal ? { signal: init.signal } : {}) });
    req.once('error', reject);
    req.once('response', (res: IncomingMessage) => {
      const out = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (Array.isArray(v)) for (const x of v) out.append(k, x);
        else if (v !== undefined) out.set(k, v);
      }
      const status = res.statusCode ?? 0;
      if (NO_BODY.has(status) || init.method === 'HEAD') res.resume();
      // ReadableStream.from, not Readable.toWeb: toWeb copies every chunk (a 40 MB result file is copied whole, chunk
      // by chunk, before evalrun reads it); from hands on the socket's chunks as they are.
      const stream = NO_BODY.has(status) || init.method === 'HEAD' ? null : (WebReadableStream.from(res) as unknown as ReadableStream<Uint8Array>);
      resolve(new Response(stream, { status, statusText: res.statusMessage ?? '', headers: out }));
    });
    if (body === undefined || body === null) req.end();
    else if (typeof body === 'string' || body instanceof Uint8Array) req.end(body);
    else if (body instanceof ReadableStream) pipeline(Readable.fromWeb(body as unknown as NodeReadableStream), req).catch(reject);
    else {
      req.destroy();
      reject(new TypeError(`evalrun's batch client sends text, bytes or streams only, not ${Object.prototype.toString.call(body)}`));
    }
  });
}
