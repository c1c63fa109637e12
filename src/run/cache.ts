import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson, sha256 } from '../util/canonical-json.js';
import { randomBytes } from 'node:crypto';

export interface CachedResponse {
  status: number;
  request_id: string | null;
  latency_ms: number;
  data: unknown;
}

/**
 * Responses kept by (base URL, canonical request body), so a rerun of an identical request is not billed twice.
 * A hit replays the same sample: it is not a new draw from the model, which is why caching is off by default.
 * One file per response under two-hex-digit folders; writes go through a temp file so a crash never leaves half
 * an entry.
 */
export class ResponseCache {
  private readonly dir: string;
  private readonly baseUrl: string;
  hits = 0;
  constructor(dir: string, baseUrl: string) {
    this.dir = dir;
    this.baseUrl = baseUrl;
  }

  key(body: unknown): string {
    return sha256(`${this.baseUrl}\n${canonicalJson(body)}`);
  }

  async get(body: unknown): Promise<CachedResponse | undefined> {
    const key = this.key(body);
    try {
      const entry = JSON.parse(await readFile(join(this.dir, key.slice(0, 2), `${key}.json`), 'utf8')) as CachedResponse;
      this.hits++;
      return entry;
    } catch {
      return undefined;
    }
  }

  async put(body: unknown, entry: CachedResponse): Promise<void> {
    const key = this.key(body);
    const folder = join(this.dir, key.slice(0, 2));
    await mkdir(folder, { recursive: true });
    // One name per write: two requests with the same body (two choices judged alike) may be answered at once.
    const tmp = join(folder, `${key}.json.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    await writeFile(tmp, JSON.stringify(entry));
    await rename(tmp, join(folder, `${key}.json`));
  }
}
