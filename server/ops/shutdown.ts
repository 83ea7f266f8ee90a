// Graceful shutdown: stop accepting, let in-flight calls (streams included) finish within the
// drain timeout, then end the rest — each still gets its `final` record, with reason `shutdown`.

/** The abort reason a draining server gives the calls it ends. */
export class ShutdownAbort extends Error {
  constructor() {
    super("the server is shutting down");
  }
}

/** Counts requests in flight so shutdown can wait for them. */
export class InFlight {
  private count = 0;
  private waiters: Array<() => void> = [];

  enter(): () => void {
    this.count += 1;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.count -= 1;
      if (this.count === 0) for (const wake of this.waiters.splice(0)) wake();
    };
  }

  get size(): number {
    return this.count;
  }

  /** Resolves true when nothing is in flight, false if `timeoutMs` passes first. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
