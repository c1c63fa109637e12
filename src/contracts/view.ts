/**
 * `evalrun view`'s address as the static report.html knows it: the port the viewer listens on unless told otherwise,
 * and the query its page understands. report.html links here when opened from disk; served by the viewer itself
 * (`/report.html`), it links to its own origin, whatever the port.
 */
export const VIEW_DEFAULT_PORT = 7357;

/** The viewer page's query: `seq` opens that request's row with its cell marked; `cell` (repeatable) picks columns. */
export const VIEW_QUERY = { seq: 'seq', cell: 'cell' } as const;
