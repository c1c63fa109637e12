/**
 * One download of a result file to disk, line by line (src/run/batch/copy-lines.ts), that can fail only in ways the
 * caller can reason about: the body going idle (a stall after the headers) past `idleMs`, a reset, a page that is
 * not JSONL (a gateway's HTML), or the user detaching (Ctrl-C aborts it at once, whatever the socket does).
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { BatchApiError, batchFailure, type BatchApi } from './batch-api.js';
import { shouldRetry } from '../retry.js';
import { copyLines } from './copy-lines.js';

/** A download that did not give a usable body; `retry` when another try may (a 404 will not). */
export class DownloadError extends Error {
  readonly retry: boolean;
  constructor(message: string, retry: boolean, options?: ErrorOptions) {
    super(message, options);
    this.retry = retry;
  }
}

export interface DownloadOptions {
  /** The body may go this long without a byte before the download is given up (and tried again). */
  idleMs: number;
  /** The run stopping: the download ends at once. */
  stop: AbortSignal;
  /** Bytes of this file received so far, as they come. */
  onBytes?: (bytes: number) => void;
}

/** Streams file `id` into `path` (overwritten); `onLine` gets each line and its offset in `path`. */
export async function downloadLines(api: BatchApi, id: string, path: string, onLine: (line: Buffer, offset: number) => void, o: DownloadOptions): Promise<{ bytes: number }> {
  const ac = new AbortController();
  const stopped = () => ac.abort(o.stop.reason);
  o.stop.addEventListener('abort', stopped, { once: true });
  const out = createWriteStream(path);
  let bytes = 0;
  try {
    if (o.stop.aborted) throw new DownloadError('the run is stopping', false);
    const res = await api.fileContent(id, ac.signal);
    if (res.contentType && /html/i.test(res.contentType)) {
      throw new DownloadError(`file ${id} came as a web page (${res.contentType}), not JSONL: a proxy or gateway answered instead of the API`, true);
    }
    let first = true;
    const check = (line: Buffer, offset: number) => {
      if (first && line.length > 0) {
        first = false;
        // A result line is a JSON object: anything else is an error page, whatever its content type said.
        if (line[0] !== 0x7b) throw new DownloadError(`file ${id} is not JSONL (it starts with ${JSON.stringify(line.toString('utf8', 0, 40))})`, true);
      }
      onLine(line, offset);
    };
    const write = async (chunk: Buffer | string) => {
      if (!out.write(chunk)) await once(out, 'drain');
    };
    await copyLines(guarded(res.body, ac, o.idleMs, (n) => o.onBytes?.((bytes += n))), 0, check, write);
    return { bytes };
  } catch (e) {
    if (o.stop.aborted) throw new DownloadError('the run is stopping', false, { cause: e });
    if (e instanceof DownloadError) throw e;
    // A refusal that another try cannot change (404: the file is gone) is not tried again.
    const failure = batchFailure(e);
    const retry = failure ? shouldRetry(failure) : true;
    throw new DownloadError(e instanceof BatchApiError ? e.message : `file ${id}: ${e instanceof Error ? e.message : String(e)}`, retry, { cause: e });
  } finally {
    o.stop.removeEventListener('abort', stopped);
    ac.abort();
    await new Promise<void>((resolve) => out.end(() => resolve()));
  }
}

/**
 * The body's chunks, failing when none comes for `idleMs` or when the run stops, instead of waiting for the socket.
 * Each wait has its own timer and abort listener, removed once a chunk comes: a promise that outlives the download
 * (raced against every chunk) would keep every chunk reachable until the end.
 */
async function* guarded(body: AsyncIterable<Uint8Array>, ac: AbortController, idleMs: number, counted: (n: number) => void): AsyncGenerator<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  const nextChunk = () =>
    new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        ac.signal.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        cleanup();
        reject(new DownloadError('the download was aborted', true));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new DownloadError(`no byte for ${Math.round(idleMs / 100) / 10} s: the download stalled`, true));
      }, idleMs);
      if (ac.signal.aborted) return onAbort();
      ac.signal.addEventListener('abort', onAbort, { once: true });
      it.next().then(
        (r) => {
          cleanup();
          resolve(r);
        },
        (e: unknown) => {
          cleanup();
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  try {
    for (;;) {
      const next = await nextChunk();
      if (next.done) return;
      counted(next.value.byteLength);
      yield next.value;
    }
  } finally {
    ac.abort();
    void Promise.resolve(it.return?.()).catch(() => {});
  }
}
