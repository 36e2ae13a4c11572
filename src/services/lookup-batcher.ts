// Read lookups asked for in the same turn of the event loop, sent to PostgreSQL as one statement.
//
// Under load, one turn of the event loop parses many requests. Each lookup of its own costs a
// round trip: a socket write that wakes a backend, the protocol messages, the executor's start-up.
// On two cores at 32 connections a manifest GET spent more CPU on that than on everything else it
// does; one statement for the turn's lookups shares that cost among them.
//
// Consistency is that of a query per lookup: a batch is sent only after every lookup in it was
// asked for, so its snapshot is taken after each of their requests arrived. A GET started after a
// push committed sees the push; nothing is remembered between batches.

interface Waiter<R> {
  resolve: (value: R | undefined) => void;
  reject: (err: unknown) => void;
}

interface Pending<K, R> {
  key: K;
  waiters: Waiter<R>[];
}

/** Answers, in the order of the keys; undefined where a key has none. */
export type BatchLookup<K, R> = (keys: K[]) => Promise<(R | undefined)[]>;

export class LookupBatcher<K, R> {
  private pending = new Map<string, Pending<K, R>>();
  private scheduled = false;

  /**
   * @param lookup answers a batch of distinct keys in one statement
   * @param identity two keys with the same identity are one lookup, answered once
   * @param maxBatch distinct keys per statement: bounds the rows one answer holds in memory at once
   */
  constructor(
    private readonly lookup: BatchLookup<K, R>,
    private readonly identity: (key: K) => string,
    private readonly maxBatch = 16,
  ) {}

  load(key: K): Promise<R | undefined> {
    return new Promise((resolve, reject) => {
      const id = this.identity(key);
      let entry = this.pending.get(id);
      if (entry === undefined) {
        if (this.pending.size >= this.maxBatch) this.send();
        entry = { key, waiters: [] };
        this.pending.set(id, entry);
        if (!this.scheduled) {
          this.scheduled = true;
          // setImmediate runs after the poll phase: every request read in this turn has asked by then.
          setImmediate(this.sendScheduled);
        }
      }
      entry.waiters.push({ resolve, reject });
    });
  }

  private readonly sendScheduled = (): void => {
    this.scheduled = false;
    this.send();
  };

  private send(): void {
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    void this.answer(batch);
  }

  private async answer(batch: Pending<K, R>[]): Promise<void> {
    try {
      const answers = await this.lookup(batch.map((p) => p.key));
      if (answers.length !== batch.length) throw new Error(`batch lookup gave ${answers.length} answers for ${batch.length} keys`);
      batch.forEach((p, i) => {
        for (const w of p.waiters) w.resolve(answers[i]);
      });
    } catch (err) {
      for (const p of batch) for (const w of p.waiters) w.reject(err);
    }
  }
}
