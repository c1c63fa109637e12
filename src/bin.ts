#!/usr/bin/env node
import { hideBin } from 'yargs/helpers';
import { main } from './cli/main.js';

// `evalrun run … | head` closes stdout early: that is the reader's choice, not an error worth a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
});
process.exitCode = await main(hideBin(process.argv));
