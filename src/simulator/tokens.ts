/**
 * Token estimates: 1 token ≈ 4 characters, rounded up. Real tokenizers differ; the pipeline only needs counts that
 * are stable, plausible and consistent with `max_tokens` truncation (content cut to max_tokens * 4 characters).
 */

export const CHARS_PER_TOKEN = 4;
/** Per-message overhead, roughly what the chat format adds around each message. */
export const TOKENS_PER_MESSAGE = 4;

export function tokensOf(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

/** The text the model "reads" from a message content: a string, or the text parts of a parts array. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let out = '';
  for (const part of content) {
    if (part && typeof part === 'object') {
      const text = (part as { text?: unknown }).text;
      if (typeof text === 'string') out += (out ? '\n' : '') + text;
    }
  }
  return out;
}

/** What the rpm/tpm limiter charges up front: the prompt plus the most the request may generate. */
export function requestedTokens(promptTokens: number, maxTokens: number | undefined, n: number): number {
  return promptTokens + (maxTokens ?? 0) * n;
}

export function truncateToTokens(text: string, maxTokens: number): string {
  return text.slice(0, maxTokens * CHARS_PER_TOKEN);
}
