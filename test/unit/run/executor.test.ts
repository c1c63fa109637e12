import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOT_CHECKED } from '../../../src/check/json-output.js';
import type { Task } from '../../../src/contracts/plan.js';
import type { RequestRecord } from '../../../src/record/types.js';
import { createHttpExecutor } from '../../../src/run/executor.js';
import { openProvider } from '../../../src/run/provider.js';
import { makeConfig } from '../../helpers/config.js';

let server: Server;
let base: string;
let received = 0;
let inFlight = 0;
let maxInFlight = 0;
/** Requests the server holds until the test lets them go (`hold`), and the hook that sees them arrive. */
let hold = false;
let onHeld: (() => void) | undefined;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const answer = () => {
        inFlight--;
        res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': `req_${received}` });
        res.end(JSON.stringify({ id: 'c', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'ok' } }] }));
      };
      if (hold) {
        res.on('close', () => inFlight--);
        onHeld?.();
      } else setTimeout(answer, 5);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((r) => server.close(() => r()));
});

async function* tasks(count: number): AsyncGenerator<Task> {
  for (let seq = 0; seq < count; seq++) {
    yield { seq, row: { id: `r${seq}`, vars: {} }, cell: { id: 'c0', index: 0, n: 1, jsonMode: false }, body: { model: 'm', messages: [{ role: 'user', content: `hi ${seq}` }] } } as unknown as Task;
  }
}

async function executor(concurrency: number) {
  const config = makeConfig({ concurrency, retry: { maxAttempts: 1, maxWaitS: 0 } });
  const provider = await openProvider({ kind: 'openai', baseUrl: base, apiKey: 'sk-x', secrets: [] }, { concurrency, timeoutMs: 30_000 });
  return { provider, executor: createHttpExecutor({ provider, config, check: () => NOT_CHECKED }) };
}

describe('createHttpExecutor (the Executor seam: tasks in, records out)', () => {
  it('produces one record per task, with at most `concurrency` requests in flight', async () => {
    const { provider, executor: ex } = await executor(3);
    maxInFlight = 0;
    const records: RequestRecord[] = [];
    const result = await ex.execute(tasks(20), { onRecord: (r) => records.push(r), stop: new AbortController().signal, abort: new AbortController().signal });
    expect(result).toEqual({ dispatched: 20, recorded: 20, fatal: undefined });
    expect(records.map((r) => r.seq).sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    expect(records.every((r) => r.http_status === 200 && r.choices[0]!.content === 'ok')).toBe(true);
    expect(maxInFlight).toBeLessThanOrEqual(3);
    await provider.close();
  });

  it('on abort (the hard stop) ends the requests in flight and records none of them', async () => {
    const { provider, executor: ex } = await executor(2);
    hold = true;
    const before = received;
    const abort = new AbortController();
    const stop = new AbortController();
    onHeld = () => {
      if (received - before === 2) {
        stop.abort();
        abort.abort();
      }
    };
    const records: RequestRecord[] = [];
    const result = await ex.execute(tasks(10), { onRecord: (r) => records.push(r), stop: stop.signal, abort: abort.signal });
    hold = false;
    onHeld = undefined;
    // Both requests were sent and neither answered: the promise resolved only because the pool was closed.
    expect(received - before).toBe(2);
    expect(result.recorded).toBe(0);
    expect(records).toEqual([]);
    await provider.close();
  });
});
