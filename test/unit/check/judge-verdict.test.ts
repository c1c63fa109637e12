import { describe, expect, it } from 'vitest';
import { combinePairwise, combineVotes, readVote } from '../../../src/check/index.js';

const answer = (content: string | null, extra: { finish_reason?: string; refusal?: string | null } = {}) => ({
  error: null,
  choices: [{ content, refusal: extra.refusal ?? null, finish_reason: extra.finish_reason ?? 'stop' }],
});
const passFail = { preset: 'rubric', scale: 'pass_fail', min: 0.5, votes: 1 } as const;

describe('readVote', () => {
  it('reads the verdict of a JSON object that fits the schema, and nothing else', () => {
    expect(readVote(passFail, answer('{"reasoning":"ok","verdict":"pass"}'))).toEqual({ value: 'pass' });
    expect(readVote(passFail, answer('{"verdict":"pass"}')).reason).toMatch(/does not fit its schema/);
    expect(readVote(passFail, answer('{"reasoning":"ok","verdict":"pass","extra":1}')).reason).toMatch(/does not fit its schema/);
    expect(readVote({ ...passFail, scale: '1-5' }, answer('{"reasoning":"ok","verdict":6}')).reason).toMatch(/does not fit its schema/);
    expect(readVote(passFail, answer('pass')).reason).toBe('the verdict is not JSON: "pass"');
    expect(readVote(passFail, answer(null, { refusal: 'no' })).reason).toBe('the judge refused: no');
    expect(readVote(passFail, answer('{"reasoning":"ok","verdict":"pass"}', { finish_reason: 'length' })).reason).toMatch(/cut off/);
    expect(readVote(passFail, answer('{"reasoning":"ok","verdict":"pass"}', { finish_reason: 'content_filter' })).reason).toMatch(/content_filter/);
    expect(readVote(passFail, { error: { status: 500, kind: 'http', message: 'boom' }, choices: [] }).reason).toBe('the judge call failed: 500: boom');
  });
});

describe('combineVotes', () => {
  it('pass/fail by majority; too few usable votes or an even split is unscored', () => {
    const k3 = { ...passFail, votes: 3 };
    expect(combineVotes(k3, [{ value: 'pass' }, { value: 'fail' }, { value: 'pass' }])).toMatchObject({ pass: true, score: 1, agreement: 2 / 3 });
    expect(combineVotes(k3, [{ value: 'fail' }, { value: 'fail' }, { reason: 'x' }])).toMatchObject({ pass: false, score: 0, agreement: 1 });
    expect(combineVotes(k3, [{ value: 'pass' }, { reason: 'refused' }, { reason: 'refused' }])).toMatchObject({ pass: null, score: null, reason: '1 of 3 votes usable (refused)' });
    expect(combineVotes({ ...passFail, votes: 5 }, [{ value: 'pass' }, { value: 'fail' }, { value: 'pass' }, { value: 'fail' }, { reason: 'x' }])).toMatchObject({ pass: null, reason: 'the votes are split 2–2' });
  });

  it('scales: the mean normalised score, passing at min; factuality by its categories', () => {
    expect(combineVotes({ preset: 'rubric', scale: '1-5', min: 0.5, votes: 3 }, [{ value: 5 }, { value: 3 }, { value: 1 }])).toMatchObject({ pass: true, score: 0.5 });
    expect(combineVotes({ preset: 'rubric', scale: '1-10', min: 0.5, votes: 1 }, [{ value: 4 }])).toMatchObject({ pass: false, score: 3 / 9 });
    expect(combineVotes({ preset: 'factuality', scale: 'pass_fail', min: 0.5, votes: 1 }, [{ value: 'subset' }])).toMatchObject({ pass: true, score: 0.5 });
    expect(combineVotes({ preset: 'factuality', scale: 'pass_fail', min: 0.5, votes: 1 }, [{ value: 'contradicts' }])).toMatchObject({ pass: false, score: 0 });
  });
});

describe('combinePairwise', () => {
  it('a win needs both orders; a position-biased pair is a tie; a missing order is unscored', () => {
    expect(combinePairwise([{ value: 'A' }, { value: 'B' }])).toEqual({ pass: true, score: 1 });
    expect(combinePairwise([{ value: 'B' }, { value: 'A' }])).toMatchObject({ pass: false, score: 0 });
    expect(combinePairwise([{ value: 'A' }, { value: 'A' }])).toMatchObject({ pass: false, score: 0.5 });
    expect(combinePairwise([{ value: 'tie' }, { value: 'tie' }])).toMatchObject({ pass: false, score: 0.5, reason: 'judged a tie' });
    expect(combinePairwise([{ value: 'A' }, { reason: 'refused' }])).toMatchObject({ pass: null, score: null, reason: 'refused' });
  });
});
