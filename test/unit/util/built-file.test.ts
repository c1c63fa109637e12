import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { builtFile } from '../../../src/util/built-file.js';

describe('builtFile', () => {
  it('is the sibling of a compiled module', () => {
    expect(builtFile('file:///app/node_modules/evalrun/dist/report/report-thread.js', './report-worker.js').href).toBe('file:///app/node_modules/evalrun/dist/report/report-worker.js');
  });

  it("is dist/'s file for a TypeScript source, the last src/ of the path counting", () => {
    expect(builtFile('file:///home/src/evalrun/src/config/load.ts', './config-validator.js').href).toBe('file:///home/src/evalrun/dist/config/config-validator.js');
  });

  it('finds the files the build writes, from these sources', async () => {
    for (const [module, file] of [
      ['../../../src/config/load.ts', './config-validator.js'],
      ['../../../src/check/validators.ts', './draft07-meta-validator.js'],
      ['../../../src/report/report-thread.ts', './report-worker.js'],
      ['../../../src/check/script-checks.ts', './script-worker.js'],
    ] as const) {
      expect(existsSync(fileURLToPath(builtFile(new URL(module, import.meta.url).href, file))), file).toBe(true);
    }
    const validator = (await import(builtFile(new URL('../../../src/config/load.ts', import.meta.url).href, './config-validator.js').href)) as { default: unknown };
    expect(typeof validator.default).toBe('function');
  });
});
