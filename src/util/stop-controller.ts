import { setMaxListeners } from 'node:events';

/**
 * The two stages of stopping a run, in one place. `soft()` (the first Ctrl-C): send nothing more, let what is in
 * flight finish, and after `graceMs` stop hard anyway. `hard()` (a second Ctrl-C, the grace running out, or a
 * journal that cannot be written): also end what is in flight. The executor watches `stop` and `abort`.
 */
export class StopController {
  private readonly stopping = new AbortController();
  private readonly aborting = new AbortController();
  private grace: NodeJS.Timeout | undefined;
  private readonly detach: () => void;

  constructor(options: { signal?: AbortSignal | undefined; abortSignal?: AbortSignal | undefined; graceMs: number; onHard?: () => void }) {
    // Retry and pacing waits of every request in flight listen on it.
    setMaxListeners(0, this.aborting.signal);
    const soft = () => this.soft(options.graceMs);
    const hard = () => {
      options.onHard?.();
      this.hard();
    };
    options.signal?.addEventListener('abort', soft, { once: true });
    options.abortSignal?.addEventListener('abort', hard, { once: true });
    this.detach = () => {
      options.signal?.removeEventListener('abort', soft);
      options.abortSignal?.removeEventListener('abort', hard);
    };
  }

  /** Aborted: take no more tasks. */
  get stop(): AbortSignal {
    return this.stopping.signal;
  }

  /** Aborted: end what is in flight too. */
  get abort(): AbortSignal {
    return this.aborting.signal;
  }

  soft(graceMs: number): void {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    this.grace = setTimeout(() => this.hard(), graceMs);
    this.grace.unref();
  }

  hard(): void {
    this.stopping.abort();
    this.aborting.abort();
  }

  /** The run is over: no signal may stop it any more. */
  dispose(): void {
    clearTimeout(this.grace);
    this.detach();
  }
}
