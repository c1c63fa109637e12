// The check stage's public entry: what other stages import from it (the stage table in eslint.config.js
// makes them come through here).
export { SCHEMA_KEYWORDS, compileSchema, schemaProblems, unknownFormat, type SchemaProblem } from './validators.js';
