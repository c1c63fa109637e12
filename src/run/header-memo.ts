import type OpenAI from 'openai';

interface BuildHeadersArgs {
  options: { headers?: unknown; timeout?: number; idempotencyKey?: string; __security?: unknown };
  method: string;
  bodyHeaders: unknown;
  retryCount: number;
}

/** The parts of the SDK client this relies on; none of them is public API, so each is checked before use. */
interface ClientInternals {
  buildHeaders?: (this: unknown, args: BuildHeadersArgs) => Promise<Iterable<[string, string]> | Record<string, string>>;
  idempotencyHeader?: string;
  _provider?: unknown;
  _workloadIdentityAuth?: unknown;
  apiKey?: string;
}

/**
 * The SDK assembles the same request headers for every request from scratch, through a chain of WHATWG `Headers`
 * objects, and then formats them for a debug log that is off: about a fifth of evalrun's CPU per request at high
 * rates (test/bench/RESULTS.md). Nothing evalrun sends changes them between requests, so the SDK's own result is
 * kept per (method, retry count, timeout, body headers, API key) and handed out as a copy in a plain object, which
 * the SDK's logging and evalrun's fetch both accept.
 *
 * The hook is the SDK's private `buildHeaders`. When it is missing (a future SDK), or the client uses a feature that
 * rewrites headers per request (idempotency keys, a cloud provider, workload identity), or a request brings its own
 * headers, the SDK's path is used unchanged. Returns whether the memo is in place (a test pins that it is).
 */
export function memoizeRequestHeaders(client: OpenAI): boolean {
  const c = client as unknown as ClientInternals;
  const build = c.buildHeaders;
  if (typeof build !== 'function' || c.idempotencyHeader || c._provider || c._workloadIdentityAuth) return false;
  const memo = new Map<string, Record<string, string>>();
  c.buildHeaders = async function (this: unknown, args: BuildHeadersArgs) {
    const { options } = args;
    if (options.headers !== undefined || options.idempotencyKey !== undefined) return build.call(this, args);
    const key = [args.method, args.retryCount, options.timeout, c.apiKey, JSON.stringify(args.bodyHeaders ?? null), JSON.stringify(options.__security ?? null)].join('\n');
    let headers = memo.get(key);
    if (!headers) {
      const built = await build.call(this, args);
      headers = Object.fromEntries(Symbol.iterator in built ? (built as Iterable<[string, string]>) : Object.entries(built));
      if (memo.size < 64) memo.set(key, headers);
    }
    return { ...headers };
  };
  return true;
}
