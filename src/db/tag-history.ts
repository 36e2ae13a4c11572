// Reading a tag's history (tag_events): pages newest first, one revision, the state at a time.
// Writing it is src/db/tags.ts's job alone.
import type { Db } from './pool.js';
import { TAG_EVENT_COLUMNS, type TagEventRow } from './tags.js';

/** Events of one tag, newest first, with revisions below `before` (exclusive) when given. */
export async function listTagEvents(
  db: Db,
  repositoryId: number,
  tag: string,
  options: { before?: number | undefined; limit: number },
): Promise<TagEventRow[]> {
  const { rows } = await db.query<TagEventRow>(
    `SELECT ${TAG_EVENT_COLUMNS} FROM tag_events
     WHERE repository_id = $1 AND tag = $2 AND ($3::int IS NULL OR revision < $3)
     ORDER BY revision DESC LIMIT $4`,
    [repositoryId, tag, options.before ?? null, options.limit],
  );
  return rows;
}

export async function findTagEvent(db: Db, repositoryId: number, tag: string, revision: number): Promise<TagEventRow | undefined> {
  const { rows } = await db.query<TagEventRow>(
    `SELECT ${TAG_EVENT_COLUMNS} FROM tag_events WHERE repository_id = $1 AND tag = $2 AND revision = $3`,
    [repositoryId, tag, revision],
  );
  return rows[0];
}

export async function latestTagEvent(db: Db, repositoryId: number, tag: string): Promise<TagEventRow | undefined> {
  return (await listTagEvents(db, repositoryId, tag, { limit: 1 }))[0];
}

/** The last event at or before `at`: what made the tag's state at that moment. */
export async function tagEventAt(db: Db, repositoryId: number, tag: string, at: Date): Promise<TagEventRow | undefined> {
  const { rows } = await db.query<TagEventRow>(
    `SELECT ${TAG_EVENT_COLUMNS} FROM tag_events WHERE repository_id = $1 AND tag = $2 AND at <= $3
     ORDER BY revision DESC LIMIT 1`,
    [repositoryId, tag, at],
  );
  return rows[0];
}

/** Whether the tag ever pointed at `digest` (as an event's new or previous digest). */
export async function tagEverPointedAt(db: Db, repositoryId: number, tag: string, digest: string): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM tag_events WHERE repository_id = $1 AND tag = $2 AND (digest = $3 OR previous_digest = $3) LIMIT 1`,
    [repositoryId, tag, digest],
  );
  return rows.length > 0;
}
