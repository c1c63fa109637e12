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

/**
 * The simulator's tokens of a text: CHARS_PER_TOKEN UTF-16 units each, so there are exactly tokensOf(text) of them
 * and they join back to the text. `bytes` are the UTF-8 bytes each token contributes: a surrogate pair split across
 * two tokens puts its four bytes in the first, so the tokens' bytes also join back to the text's UTF-8.
 */
export function splitTokens(text: string): Array<{ token: string; bytes: number[] }> {
  const out: Array<{ token: string; bytes: number[] }> = [];
  for (let start = 0; start < text.length; start += CHARS_PER_TOKEN) {
    const end = Math.min(start + CHARS_PER_TOKEN, text.length);
    const lowFirst = isLow(text.charCodeAt(start)) && start > 0 && isHigh(text.charCodeAt(start - 1));
    const highLast = isHigh(text.charCodeAt(end - 1)) && end < text.length && isLow(text.charCodeAt(end));
    const from = lowFirst ? start + 1 : start;
    const to = highLast ? end + 1 : end;
    out.push({ token: text.slice(start, end), bytes: from < to ? [...Buffer.from(text.slice(from, to), 'utf8')] : [] });
  }
  return out;
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;
