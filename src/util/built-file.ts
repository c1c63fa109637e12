/**
 * A file the build writes beside a module's compiled JavaScript (a worker thread's entry, a precompiled validator).
 * Tests run the TypeScript sources, where no such file exists and a worker thread could not load one: they use
 * dist/'s (`npm test` builds first).
 */
export function builtFile(moduleUrl: string, relative: string): URL {
  const url = new URL(relative, moduleUrl);
  if (!moduleUrl.endsWith('.ts')) return url;
  const at = url.pathname.lastIndexOf('/src/');
  if (at < 0) return url;
  return new URL(`${url.pathname.slice(0, at)}/dist/${url.pathname.slice(at + 5)}${url.search}`, url);
}
