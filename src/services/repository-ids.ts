// Repository ids by name, remembered by this process. A repository row is never deleted or renamed
// (nothing in Berth removes one), so an id once seen committed stays right for good, on every
// replica; each manifest push then skips the lookup's round trip. Should repositories ever be
// removed, this cache has to go with that change.
import type { Db } from '../db/pool.js';
import { ensureRepository, findRepositoryId } from '../db/repositories.js';

/** Enough for every repository of a large registry; past it, the oldest names are looked up again. */
const MAX_REMEMBERED = 50_000;

export class RepositoryIds {
  private readonly ids = new Map<string, number>();

  constructor(private readonly max = MAX_REMEMBERED) {}

  /**
   * The repository's id, creating the row on first push. Only an id found already there is
   * remembered: one this call inserts may still be rolled back with the caller's transaction.
   */
  async ensure(db: Db, name: string): Promise<number> {
    const known = this.ids.get(name);
    if (known !== undefined) return known;
    const found = await findRepositoryId(db, name);
    if (found === undefined) return ensureRepository(db, name);
    if (this.ids.size >= this.max) this.ids.delete(this.ids.keys().next().value!);
    this.ids.set(name, found);
    return found;
  }
}
