// Batched point lookups (src/services/lookup-batcher.ts): the keys, as a FROM item
// k(i, repository, reference), joined by each lookup's own SQL. Each key's row carries its position
// (i, from 1), so missing keys leave a gap and the answers line up with the keys whatever order the
// join returns them in.
//
// A batch of one key, the usual case away from load, takes the key as two scalar parameters: the
// statement is then planned as a plain point lookup, once per connection. Several keys come through
// berth_lookup_keys (migration 0007), unnest with a fixed row estimate, so that statement too keeps
// one cached plan.
import type { Db } from './pool.js';

export interface LookupKey {
  repository: string;
  /** A tag or a digest, as the lookup's SQL uses it. */
  reference: string;
}

/** Two keys with the same identity are one lookup (LookupBatcher's `identity`). */
export function lookupKeyIdentity(key: LookupKey): string {
  return `${key.repository}\0${key.reference}`;
}

interface Statement {
  name: string;
  text: string;
}

export interface LookupStatement {
  one: Statement;
  many: Statement;
}

const ONE_KEY = '(SELECT 1::bigint AS i, $1::text AS repository, $2::text AS reference) k';
const MANY_KEYS = 'berth_lookup_keys($1, $2) k';

/** `sql` gets the keys' FROM item and selects k.i with the answer's columns. */
export function lookupStatement(name: string, sql: (keys: string) => string): LookupStatement {
  return { one: { name: `${name}-one`, text: sql(ONE_KEY) }, many: { name, text: sql(MANY_KEYS) } };
}

/** The answers in the order of the keys, undefined where a key has none. */
export async function lookUp<R>(db: Db, statement: LookupStatement, keys: readonly LookupKey[]): Promise<(R | undefined)[]> {
  const [only] = keys;
  const values =
    keys.length === 1 && only ? [only.repository, only.reference] : [keys.map((k) => k.repository), keys.map((k) => k.reference)];
  const { rows } = await db.query<R & { i: number }>({ ...(keys.length === 1 ? statement.one : statement.many), values });
  const found = new Array<R | undefined>(keys.length).fill(undefined);
  for (const { i, ...answer } of rows) found[i - 1] = answer as R;
  return found;
}
