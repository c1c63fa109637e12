// The worker thread behind ReportThread (report-thread.ts): a ReportPass fed records.jsonl text, writing choices.csv
// as it goes and the other reports at the end. Everything it is sent or sends back is plain text or JSON.
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import type { RunManifest, RequestRecord } from '../record/index.js';
import { ReportPass } from './report-pass.js';

export type ToReportWorker = { start: { manifest: RunManifest; dir: string } } | { lines: string } | { finish: RunManifest };
export type FromReportWorker = { ack: true } | { summary: unknown } | { error: string };

let pass: ReportPass | undefined;
let dir = '';
let csv: WriteStream | undefined;

async function write(text: string | undefined): Promise<void> {
  if (text && !csv!.write(text)) await once(csv!, 'drain');
}

async function handle(message: ToReportWorker): Promise<FromReportWorker | undefined> {
  if ('start' in message) {
    pass = new ReportPass(message.start.manifest);
    dir = message.start.dir;
    csv = createWriteStream(join(dir, 'choices.csv'));
    return undefined;
  }
  if ('lines' in message) {
    // One write per message, not one per batch of rows: a stream write costs more than joining the text.
    let text = '';
    for (const line of message.lines.split('\n')) if (line) text += pass!.add(JSON.parse(line) as RequestRecord) ?? '';
    await write(text);
    return { ack: true };
  }
  await write(pass!.flush());
  await new Promise<void>((resolve, reject) => csv!.end((e?: Error | null) => (e ? reject(e) : resolve())));
  return { summary: await pass!.finish(dir, message.finish) };
}

// Messages are handled one at a time, in order: a record is added only after the ones before it.
let queue = Promise.resolve();
parentPort!.on('message', (message: ToReportWorker) => {
  queue = queue
    .then(() => handle(message))
    .then(
      (reply) => reply && parentPort!.postMessage(reply),
      (e: unknown) => parentPort!.postMessage({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) } satisfies FromReportWorker),
    );
});
