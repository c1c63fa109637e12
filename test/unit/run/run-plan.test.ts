import { describe, expect, it } from 'vitest';
import { runPlan, type Slots } from '../../../src/run/run-plan.js';
import type { Task } from '../../../src/contracts/plan.js';
import type { RequestRecord } from '../../../src/record/types.js';

async function* tasks(count: number): AsyncGenerator<Task> {
  for (let seq = 0; seq < count; seq++) yield { seq } as Task;
}

const record = (task: Task) => ({ seq: task.seq }) as RequestRecord;
const tick = () => new Promise<void>((r) => setImmediate(r));

describe('runPlan', () => {
  it('bounds requests in flight by concurrency, and sends the next request while an answer is still being recorded', async () => {
    let sending = 0;
    let maxSending = 0;
    let recording = 0;
    let sentWhileRecording = 0;
    let maxBusy = 0;
    const result = await runPlan(tasks(40), {
      concurrency: 3,
      stop: new AbortController().signal,
      execute: async (task, slots) => {
        const release = (await slots.acquire())!;
        if (recording > 0) sentWhileRecording++;
        sending++;
        maxSending = Math.max(maxSending, sending);
        await tick(); // the request is in flight
        sending--;
        release(); // the answer is in: the slot is free before the answer is checked and recorded
        recording++;
        maxBusy = Math.max(maxBusy, sending + recording);
        await tick();
        await tick();
        recording--;
        return record(task);
      },
      onRecord: () => {},
    });
    expect(result).toEqual({ dispatched: 40, recorded: 40, fatal: undefined });
    expect(maxSending).toBe(3);
    expect(sentWhileRecording).toBeGreaterThan(10);
    // Tasks are not what is limited: more than `concurrency` are busy at once, the extra ones checking and recording.
    expect(maxBusy).toBeGreaterThan(3);
  });

  it('a halt (a fatal answer) grants no more slots: tasks waiting for one send nothing', async () => {
    let sent = 0;
    const fatal = new Error('401');
    const result = await runPlan(tasks(50), {
      concurrency: 2,
      stop: new AbortController().signal,
      execute: async (task, slots: Slots) => {
        const release = await slots.acquire();
        if (!release) return undefined;
        sent++;
        await tick();
        try {
          if (task.seq === 5) {
            slots.halt(fatal);
            throw fatal;
          }
          return record(task);
        } finally {
          release();
        }
      },
      onRecord: () => {},
    });
    expect(result.fatal).toBe(fatal);
    // Tasks 0–5 and at most the one sharing the second slot with task 5.
    expect(sent).toBeLessThanOrEqual(7);
    expect(result.recorded).toBe(sent - 1);
  });

  it('a stop ends dispatch: tasks still waiting for a slot are dropped unsent, requests in flight finish', async () => {
    const stop = new AbortController();
    let sent = 0;
    let finished = 0;
    const result = await runPlan(tasks(100), {
      concurrency: 2,
      stop: stop.signal,
      execute: async (task, slots) => {
        const release = await slots.acquire();
        if (!release) return undefined;
        sent++;
        if (sent === 6) stop.abort();
        await tick();
        release();
        finished++;
        return record(task);
      },
      onRecord: () => {},
    });
    expect(sent).toBeLessThanOrEqual(7);
    expect(finished).toBe(sent);
    expect(result.recorded).toBe(sent);
    expect(result.dispatched).toBeLessThanOrEqual(sent + 4);
  });
});
