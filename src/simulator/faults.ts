/**
 * Injected misbehaviour: faults and latency. Decisions come from hash(body, k) where k counts how often this exact
 * body was admitted, because the server cannot see the client's attempt number; a retried request therefore walks a
 * fixed sequence of outcomes and eventually succeeds, identically on every run.
 */
import { FAULT_KINDS } from '../contracts/simulator-options.js';
import { errorBody } from './errors.js';
import { mix, unit } from './hash.js';
import type { FaultKind, FaultOptions, LatencyOption, SimulatedReply } from './types.js';


export function hasFaults(faults: FaultOptions | undefined): faults is FaultOptions {
  return faults !== undefined && FAULT_KINDS.some((k) => (faults[k] ?? 0) > 0);
}

/**
 * Each kind fires independently with its own probability; if several fire, the first in FAULT_KINDS order wins.
 * A kind configured alone thus hits exactly its rate, and no mix short of a probability of 1 blocks every request.
 */
export function pickFault(faults: FaultOptions, h: number): FaultKind | undefined {
  for (let i = 0; i < FAULT_KINDS.length; i++) {
    const kind = FAULT_KINDS[i] as FaultKind;
    const p = faults[kind] ?? 0;
    if (p > 0 && unit(mix(h, 0xfa17 + i)) < p) return kind;
  }
  return undefined;
}

/** Small waits (5–50 ms) so clients that honour retry-after-ms stay fast in tests. */
export function retryAfterMs(h: number): number {
  return 5 + (mix(h, 0x2a) % 46);
}

export function faultReply(kind: FaultKind, model: string, h: number): SimulatedReply {
  switch (kind) {
    case 'rate_limit': {
      const wait = retryAfterMs(h);
      const message = `Rate limit reached for ${model} in organization org-evalrun-sim on requests per min (RPM): ` +
        `Limit 500, Used 500, Requested 1. Please try again in ${wait}ms. Visit https://platform.openai.com/account/rate-limits to learn more.`;
      return { status: 429, headers: { 'retry-after-ms': String(wait) }, body: errorBody({ message, type: 'requests', param: null, code: 'rate_limit_exceeded' }), fault: kind };
    }
    case 'server_error':
      return {
        status: 500,
        headers: {},
        body: errorBody({ message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null }),
        fault: kind,
      };
    case 'unavailable':
      return {
        status: 503,
        headers: {},
        body: errorBody({ message: 'The engine is currently overloaded, please try again later.', type: 'server_error', param: null, code: null }),
        fault: kind,
      };
    default:
      return { status: 0, headers: {}, body: null, fault: kind };
  }
}

/** A 200 whose body stops mid-way, as when a proxy cuts a response short. */
export function malformed(reply: SimulatedReply, h: number): SimulatedReply {
  const text = JSON.stringify(reply.body);
  const cut = Math.max(1, Math.floor(text.length * (0.2 + unit(mix(h, 0x3b)) * 0.6)));
  return { status: 200, headers: reply.headers, body: text.slice(0, cut), fault: 'malformed' };
}

export function latencyMs(latency: LatencyOption | undefined, h: number): number {
  if (latency === undefined) return 0;
  if (typeof latency === 'number') return Math.max(0, latency);
  const u = unit(mix(h, 0x1a7));
  if ('min_ms' in latency) {
    const lo = Math.min(latency.min_ms, latency.max_ms);
    return Math.max(0, lo + u * Math.abs(latency.max_ms - latency.min_ms));
  }
  return Math.max(0, latency.mean_ms + (2 * u - 1) * (latency.jitter_ms ?? 0));
}
