#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';

// `evalrun run … | head` closes stdout early: that is the reader's choice, not an error worth a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
});
// A run allocates fast but keeps little (records go to disk as they finish): by default V8 lets the old space fill
// with garbage to several times the live set before collecting it. Growing the heap in smaller steps keeps peak RSS
// near the live set for a few percent of CPU. 60% measured best: at 30, 4% slower for 3 MB less; at 100, 148 MB
// at 600k choices, near the 150 MB budget (test/bench/RESULTS.md). Only the CLI sets it: a library user's process
// is theirs to tune.
setFlagsFromString('--heap-growing-percent=60');
const args = process.argv.slice(2);
// `plan` estimates cost with a real BPE tokenizer, ~200 ms to load: its worker starts before the CLI's own modules
// load, so the two overlap (test/bench/RESULTS.md).
if (args.find((a) => !a.startsWith('-')) === 'plan') (await import('./plan/index.js')).preloadTokenCounter();
const { main } = await import('./cli/index.js');
process.exitCode = await main(args);
