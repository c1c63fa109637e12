/**
 * Where requests go and with what key, decided once for config checks, `plan --show` and the run: the base URL
 * (the config's, else OPENAI_BASE_URL; an empty value is no value), whether that is OpenAI itself, the key or the
 * placeholder a local server gets, and the secrets every output is scrubbed of.
 */
import type { ProviderConfig } from './config.js';

const OPENAI_HOST = /(^|\.)openai\.com$/i;
/** The SDK's default base URL, shown where no other is set. */
export const OPENAI_BASE_URL = 'https://api.openai.com/v1';
/** What the SDK is given for a local server when no key is set: it wants one, local servers usually need none. */
export const NO_KEY_PLACEHOLDER = 'sk-no-key-required';

/** The base URL a config's provider sends to: its own, else OPENAI_BASE_URL; undefined is the SDK's default (OpenAI). */
export function baseUrlOf(configured: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  return configured || env['OPENAI_BASE_URL'] || undefined;
}

/** Whether requests go to OpenAI itself (no base URL, or an openai.com host). */
export function isOpenAi(baseUrl: string | undefined): boolean {
  if (!baseUrl) return true;
  try {
    return OPENAI_HOST.test(new URL(baseUrl).hostname);
  } catch {
    return false;
  }
}

export interface ResolvedEndpoint {
  baseUrl: string | undefined;
  openAi: boolean;
  /** The key to send; undefined when none is set and the server is OpenAI's (the run refuses: exit 5). */
  apiKey: string | undefined;
  /** The key is NO_KEY_PLACEHOLDER: none was set and the server is not OpenAI's. */
  placeholder: boolean;
  /** What every output is scrubbed of: the key, the configured header and query values. */
  secrets: string[];
}

export function resolveEndpoint(p: Pick<ProviderConfig, 'baseUrl' | 'apiKeyEnv' | 'headers' | 'query'>, env: NodeJS.ProcessEnv): ResolvedEndpoint {
  const baseUrl = baseUrlOf(p.baseUrl, env);
  const openAi = isOpenAi(baseUrl);
  const given = env[p.apiKeyEnv] || undefined;
  const apiKey = given ?? (openAi ? undefined : NO_KEY_PLACEHOLDER);
  const secrets = [...(given ? [given] : []), ...Object.values(p.headers), ...Object.values(p.query)];
  return { baseUrl, openAi, apiKey, placeholder: given === undefined && apiKey !== undefined, secrets };
}
