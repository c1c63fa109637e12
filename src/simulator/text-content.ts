/**
 * Prose answers for text mode. Wording is built from small phrase tables: the request seed picks the "most likely"
 * answer, and a choice that deviates (more often at higher spread) re-picks with its own seed and may ramble.
 */
import { mix, unit } from './hash.js';

const OPENERS = ['', 'Sure. ', 'Certainly! ', 'Here is my answer: ', 'Good question. ', 'In short: ', 'Briefly, '];
const CORES = [
  'The key point about {t} is that it depends on the context in which it is used.',
  'Regarding {t}, the most reasonable reading is the straightforward one.',
  'When it comes to {t}, the evidence points in a fairly clear direction.',
  'On {t}: the short answer is yes, with a few caveats worth noting.',
  'For {t}, the usual approach works well in most cases.',
  'The answer to {t} is mostly positive, though details matter.',
  'As for {t}, there are two sides, and the first one is stronger.',
  'My assessment of {t} is neutral overall.',
];
const CLOSERS = [
  '',
  ' Let me know if you need more detail.',
  ' I hope this helps.',
  ' This should cover the main points.',
  ' Feel free to ask a follow-up question.',
];
const TANGENTS = [
  ' Interestingly, similar questions come up in many unrelated areas, which is worth keeping in mind.',
  ' One could also argue the opposite, although that view is less common.',
  ' Historically, opinions on this have shifted more than once.',
  ' There may be edge cases that change the conclusion entirely.',
];
export const SHORT_ANSWERS = ['yes', 'no', 'positive', 'negative', 'neutral', 'it depends', 'unclear', 'likely', 'unlikely'];

function pick<T>(list: readonly T[], h: number): T {
  return list[h % list.length] as T;
}

/** A short topic from the last user message, so different rows read differently. */
export function topicOf(text: string): string {
  const words = text.replace(/["'`\s]+/g, ' ').trim().split(' ').slice(0, 8).join(' ');
  const t = words.length > 60 ? words.slice(0, 60) : words;
  return t ? `"${t}"` : 'this question';
}

/** `spread` in 0..1 adds rambling: a higher spread makes longer, less focused answers more likely. */
export function proseAnswer(topic: string, seed: number, spread: number): string {
  const opener = pick(OPENERS, mix(seed, 1));
  let core = pick(CORES, mix(seed, 2)).replace('{t}', topic);
  if (opener.endsWith(', ')) core = core.charAt(0).toLowerCase() + core.slice(1);
  let s = opener + core;
  if (spread > 0.3 && unit(mix(seed, 3)) < spread - 0.3) s += pick(TANGENTS, mix(seed, 4));
  return s + pick(CLOSERS, mix(seed, 5));
}

/** The small object answered in JSON modes when no schema is known. */
export function defaultJsonAnswer(seed: number): string {
  const confidence = Math.round((0.5 + unit(mix(seed, 7)) * 0.49) * 100) / 100;
  return JSON.stringify({ answer: pick(SHORT_ANSWERS, mix(seed, 6)), confidence });
}
