import { Worker } from 'node:worker_threads';
import type { EncodingName } from './cost.js';

/** Counts tokens of many texts at once, in a worker thread when one is available. */
export interface TokenCounter {
  count(encoding: EncodingName, texts: string[]): Promise<number[]>;
  close(): Promise<void>;
}

type Count = (text: string) => number;

/** The tokenizer is megabytes of BPE ranks: loaded only to estimate, never for `--help` or `run`. */
export async function loadCount(encoding: EncodingName): Promise<Count> {
  const mod = encoding === 'cl100k_base' ? await import('gpt-tokenizer/encoding/cl100k_base') : await import('gpt-tokenizer/encoding/o200k_base');
  return (text) => countInPieces(text, (t) => (t ? mod.countTokens(t) : 0));
}

/**
 * Longest run of letters (or of spaces) handed to the BPE at once. The BPE merges pairs within one pre-tokenized
 * piece in time quadratic in its length: a 1 MB cell without spaces is one piece and took twelve minutes. Real words
 * are far shorter than this, so ordinary text is counted exactly; a longer run is counted in parts, an estimate
 * off by at most a token or so per part.
 */
export const MAX_PIECE = 128;
const LONG_RUN = new RegExp(`\\S{${MAX_PIECE},}|\\s{${MAX_PIECE},}`, 'g');

/** Count `text` with `count`, never passing it a run of non-space (or space) characters longer than MAX_PIECE. */
export function countInPieces(text: string, count: Count): number {
  if (text.length < MAX_PIECE) return count(text);
  let total = 0;
  let last = 0;
  LONG_RUN.lastIndex = 0;
  for (let m = LONG_RUN.exec(text); m; m = LONG_RUN.exec(text)) {
    const end = m.index + m[0].length;
    total += count(text.slice(last, m.index));
    for (let i = m.index; i < end; ) {
      let j = Math.min(i + MAX_PIECE, end);
      // Never between the two halves of a surrogate pair (an emoji), which would count as two odd characters.
      if (j < end && (text.charCodeAt(j) & 0xfc00) === 0xdc00) j--;
      total += count(text.slice(i, j));
      i = j;
    }
    last = end;
  }
  return total + count(text.slice(last));
}

/** Counting on this thread: for tests run from source, where there is no compiled worker file. */
export function inThreadCounter(): TokenCounter {
  const counts = new Map<EncodingName, Promise<Count>>();
  return {
    async count(encoding, texts) {
      let c = counts.get(encoding);
      if (!c) counts.set(encoding, (c = loadCount(encoding)));
      const count = await c;
      return texts.map(count);
    },
    close: async () => {},
  };
}

/**
 * Starts loading the tokenizer in a worker thread at once, so its few hundred milliseconds of parsing BPE ranks
 * overlap with reading the config and the datasets on the main thread (`evalrun plan`'s start-up).
 */
export function startTokenCounter(preload: EncodingName[] = ['o200k_base']): TokenCounter {
  const early = preloaded;
  preloaded = undefined;
  return early ?? newTokenCounter(preload);
}

let preloaded: TokenCounter | undefined;

/**
 * Starts the worker before the CLI has loaded its own modules (bin.ts, for `evalrun plan`): the tokenizer then loads
 * on the other core while yargs, the config and the datasets load on this one. The next startTokenCounter takes it.
 */
export function preloadTokenCounter(): void {
  preloaded ??= newTokenCounter(['o200k_base']);
}

function newTokenCounter(preload: EncodingName[]): TokenCounter {
  const file = new URL('./token-worker.js', import.meta.url);
  if (!import.meta.url.endsWith('.js')) return inThreadCounter();
  const worker = new Worker(file, { workerData: { preload } });
  const waiting = new Map<number, { resolve: (c: number[]) => void; reject: (e: Error) => void }>();
  let next = 0;
  const settled = () => {
    if (waiting.size === 0) worker.unref();
  };
  worker.on('message', (m: { id: number; counts?: number[]; error?: string }) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    settled();
    if (m.counts) w?.resolve(m.counts);
    else w?.reject(new Error(m.error ?? 'token worker failed'));
  });
  worker.on('error', (e) => {
    for (const w of waiting.values()) w.reject(e);
    waiting.clear();
    settled();
  });
  // The worker keeps the process alive only while a count is awaited: a `plan` that ends early (a usage error,
  // --help, a bad config) must not wait on a tokenizer it never used. After the listeners: adding one refs it again.
  worker.unref();
  return {
    count(encoding, texts) {
      const id = next++;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        worker.ref();
        worker.postMessage({ id, encoding, texts });
      });
    },
    close: async () => {
      await worker.terminate();
    },
  };
}
