import { isMap, isPair, isScalar, type Document, type LineCounter } from 'yaml';
import { pointerTokens } from '../util/json-pointer.js';

export type DocPath = Array<string | number>;

/** "/grid/temperature/1" → ["grid", "temperature", 1] (JSON Pointer, RFC 6901 escapes). */
export function pointerToPath(pointer: string): DocPath {
  return pointerTokens(pointer).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

export function pathToString(path: DocPath): string {
  return path.length === 0 ? '(root)' : path.join('.');
}

/**
 * Where a path points in the YAML source. For a key that should not be there we point at the key itself; otherwise
 * at the value, walking up to the nearest node that exists (a missing key is reported at its parent).
 */
export function locate(
  doc: Document,
  lines: LineCounter,
  path: DocPath,
  opts: { atKey?: boolean } = {},
): { line: number; col: number } {
  for (let depth = path.length; depth >= 0; depth--) {
    const sub = path.slice(0, depth);
    let offset: number | undefined;
    if (opts.atKey && depth === path.length && depth > 0) {
      const parent = sub.length > 1 ? doc.getIn(sub.slice(0, -1), true) : doc.contents;
      if (isMap(parent)) {
        const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === sub[sub.length - 1]);
        if (pair && isScalar(pair.key)) offset = pair.key.range?.[0];
      }
    }
    if (offset === undefined) {
      const node = depth === 0 ? doc.contents : doc.getIn(sub, true);
      const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
      offset = range?.[0];
    }
    if (offset !== undefined) {
      const pos = lines.linePos(offset);
      return { line: pos.line, col: pos.col };
    }
  }
  return { line: 1, col: 1 };
}

export { suggest } from '../util/suggest.js';
