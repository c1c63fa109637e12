import { parentPort, workerData } from 'node:worker_threads';
import type { EncodingName } from './cost.js';
import { loadCount } from './token-counter.js';

const counts = new Map<EncodingName, ReturnType<typeof loadCount>>();
const counter = (e: EncodingName) => {
  let c = counts.get(e);
  if (!c) counts.set(e, (c = loadCount(e)));
  return c;
};
for (const e of (workerData as { preload: EncodingName[] }).preload) void counter(e);

parentPort!.on('message', (m: { id: number; encoding: EncodingName; texts: string[] }) => {
  counter(m.encoding).then(
    (count) => parentPort!.postMessage({ id: m.id, counts: m.texts.map(count) }),
    (e: unknown) => parentPort!.postMessage({ id: m.id, error: String(e) }),
  );
});
