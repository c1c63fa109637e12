/**
 * Cell-id globs for gates: `*` matches any run of characters, `/` included (so `gpt-4o-mini/*` is every cell of
 * that model), `?` one character, `[abc]` a class; everything else is literal. Cell ids are short and flat, so
 * path-aware globbing (where `*` stops at `/`) would only make `model/*` miss `model/t0/p1/n3`.
 */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*') out += '.*';
    else if (ch === '?') out += '.';
    else if (ch === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) throw new Error(`unclosed '[' in '${glob}'`);
      const body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
      out += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
      i = end;
    } else out += ch.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

export function matchesGlob(id: string, glob: string | undefined): boolean {
  return glob === undefined || globToRegExp(glob).test(id);
}
