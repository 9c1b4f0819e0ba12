// Runs async work one piece at a time, in the order it was asked for: a chip must not see two conversions
// interleaved on its bus, and a database connection must not see two transactions interleaved.
export class OneAtATime {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `work` after everything asked for before it has settled; its result or error is the caller's. */
  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves once everything asked for so far has settled. */
  async idle(): Promise<void> {
    await this.tail;
  }
}
