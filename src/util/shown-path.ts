import { relative } from 'node:path';

/** How a path is shown to the user: relative to the working directory when it is inside it and that is shorter. */
export function shownPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && rel.length < file.length ? rel : file;
}
