import { redactUrl } from '../util/redact.js';

/** The operating system's (or TLS layer's) reason a request never reached the server. */
export interface SystemError {
  /** ECONNREFUSED, ENOTFOUND, CERT_HAS_EXPIRED, UND_ERR_CONNECT_TIMEOUT, … */
  code: string;
  /** Node's own wording, e.g. `connect ECONNREFUSED 127.0.0.1:18999`. */
  message: string;
}

/**
 * The system error under an SDK APIConnectionError: the SDK wraps fetch's TypeError('fetch failed'), which wraps
 * the socket's error; a dual-stack connect (`localhost`) fails with an AggregateError whose own message is empty.
 */
export function systemErrorOf(e: unknown): SystemError | undefined {
  const seen = new Set<unknown>();
  let found: SystemError | undefined;
  for (let x: unknown = e; x && typeof x === 'object' && !seen.has(x); x = (x as { cause?: unknown }).cause) {
    seen.add(x);
    const err = x as { code?: unknown; message?: unknown; errors?: unknown };
    if (typeof err.code === 'string' && err.code) {
      const inner = Array.isArray(err.errors) ? (err.errors[0] as { message?: unknown } | undefined) : undefined;
      const message = typeof err.message === 'string' && err.message ? err.message : typeof inner?.message === 'string' ? inner.message : err.code;
      found = { code: err.code, message };
    }
  }
  return found;
}

/** An answer whose headers arrived and whose body then broke off (set by http-fetch.ts). */
export interface AnswerCut {
  status: number;
  received: number;
  expected: number | null;
}

export function answerCutOf(e: unknown): AnswerCut | undefined {
  const seen = new Set<unknown>();
  for (let x: unknown = e; x && typeof x === 'object' && !seen.has(x); x = (x as { cause?: unknown }).cause) {
    seen.add(x);
    const cut = (x as { answerCut?: AnswerCut }).answerCut;
    if (cut) return cut;
  }
  return undefined;
}

/** What a cut answer's record says: how much came, and that the connection closed mid-answer. */
export function answerCutMessage(cut: AnswerCut, sys: SystemError | undefined): string {
  const of = cut.expected === null ? '' : ` of ${cut.expected}`;
  const why = sys ? ` (${sys.code}${sys.message !== sys.code ? `: ${sys.message}` : ''})` : '';
  const billed = cut.status >= 200 && cut.status < 300 ? '; it may have been billed, so it is not sent again automatically (--retry-errors sends it)' : '';
  return `the answer was cut off before its end: the server sent status ${cut.status} and ${cut.received}${of} bytes of its body, then the connection closed${why}${billed}`;
}

const TLS_CODE = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|HOSTNAME_MISMATCH$|ERR_TLS_|ERR_SSL_|EPROTO$)/;

/**
 * Failures that say the server cannot be reached at all, and will not change by trying again in a second: nothing
 * listens on the port, the host name does not resolve, no route, the certificate is refused. EAI_AGAIN (a DNS
 * hiccup), resets and timeouts may pass, so they are retried as before.
 */
export function isUnreachable(code: string): boolean {
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || TLS_CODE.test(code);
}

function advice(code: string): string {
  if (code === 'ECONNREFUSED') return 'nothing is listening there. Start the server, or fix the port in OPENAI_BASE_URL / provider.base_url.';
  if (code === 'ENOTFOUND') return 'the host name does not resolve. Check its spelling in OPENAI_BASE_URL / provider.base_url, and your network or DNS.';
  if (code === 'EAI_AGAIN') return 'the host name could not be resolved right now. Check your network or DNS, then resume.';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'there is no network route to the host. Check your network, VPN or proxy.';
  if (TLS_CODE.test(code)) {
    return "the server's TLS certificate was refused. Check the URL's host; for a private CA, point NODE_EXTRA_CA_CERTS at its certificate (PEM); a plain-HTTP server needs an http:// URL.";
  }
  return 'no HTTP answer came back. Check that the server is running and that OPENAI_BASE_URL / provider.base_url is right.';
}

/** `cannot reach <url> (host H, port P): CODE (node's words): what to do.` for a server that never answered. */
export function unreachableMessage(baseUrl: string, sys: SystemError, attempts: number): string {
  const shown = redactUrl(baseUrl);
  let where = '';
  try {
    const u = new URL(baseUrl);
    const port = u.port || (u.protocol === 'https:' ? '443' : u.protocol === 'http:' ? '80' : '');
    where = ` (host ${u.hostname.replace(/^\[|\]$/g, '')}${port ? `, port ${port}` : ''})`;
  } catch {
    // an unparsable URL is shown as it is
  }
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  return (
    `cannot reach ${shown}${where}: ${sys.code}${sys.message !== sys.code ? ` (${sys.message})` : ''}${tries}; no request of this run has had an answer: ${advice(sys.code)}\n` +
    'Nothing more was sent; resume the run with --resume once the server can be reached.'
  );
}
