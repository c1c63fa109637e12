// The gate stage's public entry: what other stages import from it (the stage table in eslint.config.js
// makes them come through here).
export { evaluateGates, gatesNotJudged } from './gates.js';
