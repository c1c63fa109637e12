/** The dataset stage's public entry: what other stages and the use cases import from it. */
export { scanDatasets, readRows, hashFiles } from './load.js';
