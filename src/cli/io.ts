/** Where the CLI writes: injectable so tests call `main()` in-process and read what it printed. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  isTTY: boolean;
  env: NodeJS.ProcessEnv;
  /** Width of the terminal (stderr), for the progress bar; 80 when unknown. */
  columns?: number | undefined;
}

export const processIo: Io = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  isTTY: Boolean(process.stderr.isTTY),
  get columns() {
    return process.stderr.columns;
  },
  env: process.env,
};
