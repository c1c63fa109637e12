import { readFileSync } from 'node:fs';
import { VERSION as openaiVersion } from 'openai/version';

function ownVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export const versions = { evalrun: ownVersion(), node: process.versions.node, openai_sdk: openaiVersion };
