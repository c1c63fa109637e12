/**
 * Debian's headless Chromium for the browser tests, through playwright-core (no browser download). CI (.ci/run
 * installs Chromium) must run them; a developer's machine without Chromium is told and skips them.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env['EVALRUN_CHROMIUM'] ?? '/usr/bin/chromium';
export const available = existsSync(CHROMIUM);
export const required = Boolean(process.env['CI']) || process.env['EVALRUN_REQUIRE_BROWSER'] === '1';

/** Call at the top of a test file: says why its tests are skipped, when they are. */
export function noteIfSkipped(what: string): void {
  if (!available && !required) process.stderr.write(`\nNOTE: the browser test of ${what} is skipped: ${CHROMIUM} not found (apt-get install -y chromium, or set EVALRUN_CHROMIUM).\n`);
}

export function launchChromium(): Promise<Browser> {
  if (!available) throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium), or point EVALRUN_CHROMIUM at a Chromium binary`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
