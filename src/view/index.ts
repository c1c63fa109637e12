// The view stage's public entry: `evalrun view DIR` serves a run directory's answers, row by row, on loopback.
export { startViewer, type Viewer, type ViewerOptions } from './server.js';
export type { InputSource } from './run-view.js';
export type { InputRow } from './inputs.js';
