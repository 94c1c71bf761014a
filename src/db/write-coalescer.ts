// Many small identical writes as few statements: items that arrive while a write is running go
// together in the next one. Under light load every add() is written at once; under heavy load the
// writes group themselves, with no timer and no extra delay. Each add() resolves once its items are
// written, or rejects with that write's error.

export class WriteCoalescer<T> {
  private waiting: { items: readonly T[]; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private writing: Promise<void> | undefined;

  constructor(private readonly write: (items: T[]) => Promise<void>) {}

  add(items: readonly T[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => this.waiting.push({ items, resolve, reject }));
    this.writing ??= this.drain();
    return done;
  }

  private async drain(): Promise<void> {
    while (this.waiting.length > 0) {
      const group = this.waiting;
      this.waiting = [];
      try {
        await this.write(group.flatMap((g) => g.items));
        for (const g of group) g.resolve();
      } catch (err) {
        for (const g of group) g.reject(err);
      }
    }
    this.writing = undefined;
  }
}
