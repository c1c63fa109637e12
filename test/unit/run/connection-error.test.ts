import { describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { isUnreachable, systemErrorOf, unreachableMessage } from '../../../src/run/connection-error.js';

/** What the SDK throws for a network failure: APIConnectionError ← TypeError('fetch failed') ← the socket's error. */
function sdkError(cause: Error): Error {
  return new OpenAI.APIConnectionError({ cause: new TypeError('fetch failed', { cause }) });
}

const sysErr = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('systemErrorOf', () => {
  it('finds the system error code under the SDK and fetch wrappers', () => {
    expect(systemErrorOf(sdkError(sysErr('connect ECONNREFUSED 127.0.0.1:18999', 'ECONNREFUSED')))).toEqual({
      code: 'ECONNREFUSED',
      message: 'connect ECONNREFUSED 127.0.0.1:18999',
    });
    expect(systemErrorOf(sdkError(sysErr('certificate has expired', 'CERT_HAS_EXPIRED')))?.code).toBe('CERT_HAS_EXPIRED');
  });

  it("takes a dual-stack connect's AggregateError message from its first error", () => {
    const agg = Object.assign(new AggregateError([sysErr('connect ECONNREFUSED ::1:18999', 'ECONNREFUSED')], ''), { code: 'ECONNREFUSED' });
    expect(systemErrorOf(sdkError(agg))).toEqual({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED ::1:18999' });
  });

  it('is undefined when no error in the chain has a code', () => {
    expect(systemErrorOf(new OpenAI.APIConnectionError({ cause: new TypeError('fetch failed') }))).toBeUndefined();
  });
});

describe('isUnreachable', () => {
  it('treats refused, unknown host, no route and refused certificates as unreachable', () => {
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'CERT_HAS_EXPIRED', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'ERR_TLS_CERT_ALTNAME_INVALID', 'SELF_SIGNED_CERT_IN_CHAIN']) {
      expect(isUnreachable(code), code).toBe(true);
    }
  });

  it('leaves passing trouble (resets, DNS hiccups, timeouts) to the retries', () => {
    for (const code of ['ECONNRESET', 'EAI_AGAIN', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']) expect(isUnreachable(code), code).toBe(false);
  });
});

describe('unreachableMessage', () => {
  it('names the URL, host, default port and the code, hiding credentials', () => {
    const m = unreachableMessage('https://user:pw@api.example.com/v1', { code: 'CERT_HAS_EXPIRED', message: 'certificate has expired' }, 1);
    expect(m).toContain('cannot reach https://***@api.example.com/v1 (host api.example.com, port 443): CERT_HAS_EXPIRED (certificate has expired)');
    expect(m).toContain('NODE_EXTRA_CA_CERTS');
    expect(m).not.toContain('pw');
  });

  it('says what to do about an unknown host', () => {
    expect(unreachableMessage('http://nohost.invalid:8000/v1', { code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND nohost.invalid' }, 1)).toMatch(
      /host nohost\.invalid, port 8000\): ENOTFOUND .*does not resolve/,
    );
  });
});
