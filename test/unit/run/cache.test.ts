import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ResponseCache, type CachedResponse } from '../../../src/run/cache.js';
import { useTempDirs } from '../../helpers/tmp.js';

const tempDir = useTempDirs();
const URL_A = 'http://127.0.0.1:1/v1';
const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Ticket "T-1": café, 两步' }], temperature: 0, n: 2 };
const entry: CachedResponse = { status: 200, request_id: 'req_1', latency_ms: 12.5, data: { id: 'chatcmpl-1', choices: [{ index: 0 }, { index: 1 }] } };

/** Every file under dir, as paths relative to it. */
async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name).slice(dir.length + 1));
  return out.sort();
}

describe('ResponseCache', () => {
  it('misses on an empty cache without counting a hit', async () => {
    const cache = new ResponseCache(join(await tempDir(), 'cache'), URL_A);
    expect(await cache.get(body)).toBeUndefined();
    expect(cache.hits).toBe(0);
  });

  it('gives back what was put, to this and to a later process (a new instance over the same folder)', async () => {
    const dir = join(await tempDir(), 'cache');
    const first = new ResponseCache(dir, URL_A);
    await first.put(body, entry);
    expect(await first.get(body)).toEqual(entry);
    expect(first.hits).toBe(1);
    const later = new ResponseCache(dir, URL_A);
    expect(await later.get(structuredClone(body))).toEqual(entry);
    expect(later.hits).toBe(1);
  });

  it('keys on the body whatever order its keys were written in, but on every value', async () => {
    const cache = new ResponseCache(await tempDir(), URL_A);
    const reordered = { n: 2, temperature: 0, messages: [{ content: body.messages[0]!.content, role: 'user' }], model: 'gpt-4o-mini' };
    expect(cache.key(reordered)).toBe(cache.key(body));
    expect(cache.key({ ...body, temperature: 1 })).not.toBe(cache.key(body));
    expect(cache.key({ ...body, messages: [...body.messages, { role: 'user', content: 'x' }] })).not.toBe(cache.key(body));
    await cache.put(reordered, entry);
    expect(await cache.get(body)).toEqual(entry);
    expect(await cache.get({ ...body, temperature: 1 })).toBeUndefined();
  });

  it('keeps servers apart: the same body sent to another base URL is a miss', async () => {
    const dir = await tempDir();
    await new ResponseCache(dir, URL_A).put(body, entry);
    const other = new ResponseCache(dir, 'https://api.openai.com/v1');
    expect(other.key(body)).not.toBe(new ResponseCache(dir, URL_A).key(body));
    expect(await other.get(body)).toBeUndefined();
  });

  it('stores one JSON file per response under a two-hex-digit folder, with no temp file left', async () => {
    const dir = await tempDir();
    const cache = new ResponseCache(dir, URL_A);
    await cache.put(body, entry);
    await cache.put({ ...body, temperature: 1 }, { ...entry, request_id: 'req_2' });
    const key = cache.key(body);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    const names = await files(dir);
    expect(names).toHaveLength(2);
    expect(names).toContain(join(key.slice(0, 2), `${key}.json`));
    for (const n of names) expect(n).toMatch(/^[0-9a-f]{2}[\\/][0-9a-f]{64}\.json$/);
    expect(JSON.parse(await readFile(join(dir, key.slice(0, 2), `${key}.json`), 'utf8'))).toEqual(entry);
  });

  it('overwrites an entry put again for the same body', async () => {
    const cache = new ResponseCache(await tempDir(), URL_A);
    await cache.put(body, entry);
    await cache.put(body, { ...entry, request_id: 'req_newer' });
    expect((await cache.get(body))?.request_id).toBe('req_newer');
  });

  it('treats an unreadable entry (a damaged file) as a miss, so the request is sent again', async () => {
    const dir = await tempDir();
    const cache = new ResponseCache(dir, URL_A);
    await cache.put(body, entry);
    const key = cache.key(body);
    await writeFile(join(dir, key.slice(0, 2), `${key}.json`), '{"status":200,"dat');
    expect(await cache.get(body)).toBeUndefined();
    expect(cache.hits).toBe(0);
  });
});
