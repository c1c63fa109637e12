/**
 * Context windows (tokens a request may hold, prompt and completion together) of OpenAI's chat models, from their
 * model pages. First match wins, so a longer prefix comes before its shorter one. Other models: unknown, no warning.
 */
const WINDOWS: Array<[prefix: string, tokens: number]> = [
  ['gpt-5', 400_000],
  ['gpt-4.1', 1_047_576],
  ['gpt-4.5', 128_000],
  ['gpt-4o', 128_000],
  ['chatgpt-4o', 128_000],
  ['gpt-4-turbo', 128_000],
  ['gpt-4-1106', 128_000],
  ['gpt-4-0125', 128_000],
  ['gpt-4-32k', 32_768],
  ['gpt-4', 8_192],
  ['gpt-3.5-turbo-instruct', 4_096],
  ['gpt-3.5-turbo', 16_385],
  ['o1-mini', 128_000],
  ['o1-preview', 128_000],
  ['o1', 200_000],
  ['o3', 200_000],
  ['o4-mini', 200_000],
  ['gpt-oss', 131_072],
];

/** `gpt-4o-mini` and `gpt-4o-2024-08-06` are `gpt-4o`'s family; `gpt-4o` is not `gpt-4`'s. */
export function contextWindow(model: string): number | undefined {
  return WINDOWS.find(([prefix]) => model === prefix || model.startsWith(`${prefix}-`))?.[1];
}

/**
 * The most completion tokens a model may write in one choice (its model page's "max output tokens"), the worst case
 * the spend limit reserves when a request sets no max_tokens. First match wins, as for the windows.
 */
const MAX_OUTPUT: Array<[prefix: string, tokens: number]> = [
  ['gpt-5', 128_000],
  ['gpt-4.1', 32_768],
  ['gpt-4.5', 16_384],
  ['gpt-4o', 16_384],
  ['chatgpt-4o', 16_384],
  ['gpt-4-turbo', 4_096],
  ['gpt-4-1106', 4_096],
  ['gpt-4-0125', 4_096],
  ['gpt-4-32k', 32_768],
  ['gpt-4', 8_192],
  ['gpt-3.5-turbo', 4_096],
  ['o1-mini', 65_536],
  ['o1-preview', 32_768],
  ['o1', 100_000],
  ['o3', 100_000],
  ['o4-mini', 100_000],
];

export function outputLimit(model: string): number | undefined {
  const base = model.replace(/-\d{4}-\d{2}-\d{2}$/, '');
  return MAX_OUTPUT.find(([prefix]) => base === prefix || base.startsWith(`${prefix}-`))?.[1];
}
