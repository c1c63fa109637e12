/** The config stage's public entry: what other stages and the use cases import from it. */
export { loadConfigFile, parseConfigText } from './load.js';
export { resolveConfig } from './resolve.js';
export type { ResolveOptions } from './resolve.js';
