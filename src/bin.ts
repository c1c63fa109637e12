#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';
import { main } from './cli/main.js';

// `evalrun run … | head` closes stdout early: that is the reader's choice, not an error worth a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
});
// A run allocates fast but keeps little (records go to disk as they finish): by default V8 lets the old space fill
// with garbage to several times the live set before collecting it. Growing the heap in smaller steps keeps peak RSS
// near the live set for a few percent of CPU (test/bench/RESULTS.md). Only the CLI sets it: a library user's
// process is theirs to tune.
setFlagsFromString('--heap-growing-percent=30');
process.exitCode = await main(process.argv.slice(2));
