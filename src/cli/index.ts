/** The cli stage's public entry: what other stages and the use cases import from it. */
export { main } from './main.js';
