/** Hide credentials in a URL: `https://user:secret@host/v1?api-key=x` → `https://***@host/v1?api-key=***`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '***';
      u.password = '';
    }
    for (const key of [...u.searchParams.keys()]) {
      if (/key|token|secret|sig|password/i.test(key)) u.searchParams.set(key, '***');
    }
    return u.toString();
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//***@');
  }
}

/**
 * The one rule for secrets in what evalrun writes or prints: the configured ones (the API key, configured header and
 * query values) become `[REDACTED]` wherever they appear (a server's words, a dataset row, a request preview, the
 * records and every file derived from them). Other key-shaped text (`sk-…` that is not the configured key) is data
 * and is kept as it is: evalrun cannot tell a leaked key from a ticket quoting one. A secret is also found in its
 * JSON-escaped form, so serialized records are scrubbed too.
 */
export function makeRedactor(secrets: Array<string | undefined>): (text: string) => string {
  const given = secrets.filter((s): s is string => typeof s === 'string' && s.length >= 6);
  const list = [...new Set([...given, ...given.map((s) => JSON.stringify(s).slice(1, -1))])].sort(
    (a, b) => b.length - a.length,
  );
  if (list.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const s of list) if (out.includes(s)) out = out.split(s).join('[REDACTED]');
    return out;
  };
}
