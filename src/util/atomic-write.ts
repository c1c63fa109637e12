import { createWriteStream } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';

/** Names of files being written: `<file>.tmp-<pid>` here, `choices.csv.live-<pid>` by a run's live report. */
export const TEMP_FILE = /\.(tmp|live)-\d+$/;

function tempPath(path: string): string {
  return `${path}.tmp-${process.pid}`;
}

/** Write then rename, so no reader (or a crash) ever sees half a file. */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = tempPath(path);
  await writeFile(tmp, data, 'utf8');
  await rename(tmp, path);
}

export async function streamToFileAtomic(path: string, source: Readable): Promise<void> {
  const tmp = tempPath(path);
  try {
    await pipeline(source, createWriteStream(tmp));
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
