// The plan stage's public entry: what other stages import from it (the stage table in eslint.config.js
// makes them come through here).
export { expandGrid } from './grid.js';
