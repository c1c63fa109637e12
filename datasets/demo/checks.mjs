// A script check for the demo (`type: script` in evalrun.yaml): how well the answer's priority fits the customer's
// tier. evalrun calls it with { content, json, row, cell, choice } for every choice, in a worker thread.
const RANK = { low: 0, medium: 1, high: 2, urgent: 3 };
const EXPECTED = { free: 0.5, pro: 1.5, enterprise: 2.5 };

export default function priorityFitsTier({ json, row }) {
  if (!json || typeof json !== 'object') return { pass: null, reason: 'the answer is not a JSON object' };
  const rank = RANK[json.priority];
  if (rank === undefined) return { pass: false, score: 0, reason: `unknown priority ${JSON.stringify(json.priority)}` };
  const want = EXPECTED[row.customer_tier];
  if (want === undefined) return { pass: null, reason: `unknown customer tier ${JSON.stringify(row.customer_tier)}` };
  // 1 when the priority is as far as possible from wrong for the tier, falling off linearly; passes at 0.5.
  const score = Math.max(0, 1 - Math.max(0, Math.abs(rank - want) - 0.5) / 2);
  return { score, reason: score < 0.5 ? `${json.priority} for a ${row.customer_tier} customer` : undefined };
}
