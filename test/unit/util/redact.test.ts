import { describe, expect, it } from 'vitest';
import { makeRedactor, redactUrl } from '../../../src/util/redact.js';

describe('redactUrl', () => {
  it('hides user:password and key-like query parameters', () => {
    const shown = redactUrl('https://alice:s3cr3t-pass@proxy.example.com/v1?api-key=sk-canary-123&deployment=prod');
    expect(shown).not.toContain('s3cr3t-pass');
    expect(shown).not.toContain('sk-canary-123');
    expect(shown).toContain('proxy.example.com/v1');
    expect(shown).toContain('deployment=prod');
  });

  it('leaves a URL without credentials as it is', () => {
    expect(redactUrl('http://127.0.0.1:8000/v1')).toBe('http://127.0.0.1:8000/v1');
  });
});

describe('makeRedactor', () => {
  it('replaces every occurrence of every secret, longest first', () => {
    const redact = makeRedactor(['sk-canary-abcdef', 'sk-canary-abcdef-longer', undefined]);
    expect(redact('key sk-canary-abcdef-longer and sk-canary-abcdef')).toBe('key [REDACTED] and [REDACTED]');
  });

  it('finds a secret in its JSON-escaped form too (a header value with a quote, inside a serialized record)', () => {
    const secret = 'tok"en\\with-quote';
    const redact = makeRedactor([secret]);
    expect(redact(JSON.stringify({ input: `x ${secret} y` }))).toBe('{"input":"x [REDACTED] y"}');
  });

  it('keeps key-shaped text that is not a configured secret: it is data', () => {
    expect(makeRedactor(['sk-configured-123456'])('sk-live-abcdef0123456789')).toBe('sk-live-abcdef0123456789');
  });

  it('ignores values too short to be secrets, so ordinary words survive', () => {
    const redact = makeRedactor(['abc', '']);
    expect(redact('abc def')).toBe('abc def');
  });
});
