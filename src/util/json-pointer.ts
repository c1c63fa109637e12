/** The reference tokens of a JSON Pointer (RFC 6901): "" is the whole document; "~1" is "/" and "~0" is "~". */
export function pointerTokens(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}
