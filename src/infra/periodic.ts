/**
 * Background work that runs a step over and over: the next run starts `everyMs` after the previous
 * one ended, so slow steps never overlap or pile up. `stop()` waits for the step in flight, so a
 * shutdown step can say "after its round in flight". The timer does not keep the process alive.
 */
export class Periodic {
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #stopped = true

  constructor(
    private readonly step: () => Promise<unknown>,
    private readonly options: {
      everyMs: number
      /** the first run after this long (default: at once) */
      firstAfterMs?: number
      /** a failed step is told here and the next one runs as planned */
      onError: (err: unknown) => void
    },
  ) {}

  get stopped(): boolean {
    return this.#stopped
  }

  start(): void {
    this.#stopped = false
    const run = async () => {
      if (this.#stopped) return
      this.#running = this.step().then(
        () => undefined,
        (err: unknown) => this.options.onError(err),
      )
      await this.#running
      this.#schedule(run, this.options.everyMs)
    }
    this.#schedule(run, this.options.firstAfterMs ?? 0)
  }

  /** Stops; resolves once the step in flight, if any, has ended. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#running
  }

  #schedule(run: () => Promise<void>, ms: number) {
    if (this.#stopped) return
    this.#timer = setTimeout(run, ms)
    this.#timer.unref()
  }
}
