/** Issue 12 item 1: whether a near-miss parameter is refused or warned depends on where the requests go. */
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import { ConfigError } from '../../../src/errors.js';

const text = (provider = '') => `dataset: rows.csv\nmessages: [{ role: user, content: hi }]\nparams: { model: m, top_kk: 3 }\n${provider}`;
const resolve = (yaml: string, env: NodeJS.ProcessEnv = {}, simulate = false) =>
  resolveConfig(parseConfigText(yaml, '/nonexistent/evalrun.yaml'), { env, simulate });

describe('near-miss parameters by destination', () => {
  it("OpenAI (no base URL, or OpenAI's own): refused", () => {
    expect(() => resolve(text())).toThrow(ConfigError);
    expect(() => resolve(text('provider: { base_url: "https://api.openai.com/v1" }\n'))).toThrow(/unknown parameter 'top_kk' \(did you mean 'top_k'\?\)/);
  });

  it('OPENAI_BASE_URL pointing elsewhere: a warning, and the parameter is kept', () => {
    const c = resolve(text(), { OPENAI_BASE_URL: 'http://localhost:8000/v1' });
    expect(c.params['top_kk']).toBe(3);
    expect(c.warnings?.map((w) => w.path)).toEqual(['params.top_kk']);
  });

  it('--simulate on a config written for another server keeps that server\'s leniency', () => {
    const c = resolve(text('provider: { base_url: "http://localhost:11434/v1" }\n'), {}, true);
    expect(c.provider.kind).toBe('simulator');
    expect(c.warnings).toHaveLength(1);
  });

  it('provider: openai follows OPENAI_BASE_URL as the SDK does; provider: simulator is strict', () => {
    expect(resolve(text('provider: openai\n'), { OPENAI_BASE_URL: 'http://localhost:8000/v1' }).warnings).toHaveLength(1);
    expect(() => resolve(text('provider: simulator\n'), { OPENAI_BASE_URL: 'http://localhost:8000/v1' })).toThrow(ConfigError);
  });
});
