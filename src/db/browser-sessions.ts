// Browser sessions (migration 0014): the web UI's sign-ins, kept by the sha256 of the cookie's secret.
import type { Db } from './pool.js';
import type { AccountKind } from './accounts.js';

export interface SessionLimits {
  /** A session nobody used for this long has ended. */
  idleMs: number;
  /** A session ends this long after sign-in, however busy. */
  absoluteMs: number;
}

export interface LiveSession {
  name: string;
  kind: AccountKind;
  admin: boolean;
  /** How long ago (ms, by the database's clock) the session was last marked as seen. */
  seenAgoMs: number;
}

/** Opens a session for the account as its credentials stand now; also forgets sessions long over. */
export async function insertBrowserSession(db: Db, id: Buffer, accountName: string, limits: SessionLimits): Promise<Date> {
  await db.query(`DELETE FROM browser_sessions WHERE expires_at <= now() OR last_seen_at <= now() - $1 * interval '1 millisecond'`, [limits.idleMs]);
  const { rows } = await db.query<{ expiresAt: Date }>(
    `INSERT INTO browser_sessions (id, account_id, credential_version, expires_at)
     SELECT $1, id, credential_version, now() + $3 * interval '1 millisecond' FROM accounts WHERE name = $2
     RETURNING expires_at AS "expiresAt"`,
    [id, accountName, limits.absoluteMs],
  );
  if (!rows[0]) throw new Error(`account ${accountName} vanished while signing in`);
  return rows[0].expiresAt;
}

/** The account a session belongs to, when the session is live: not idle too long, not expired,
 *  its account's password unchanged since sign-in and the account itself not expired. */
export async function findLiveSession(db: Db, id: Buffer, idleMs: number): Promise<LiveSession | undefined> {
  const { rows } = await db.query<LiveSession>({
    name: 'find-live-browser-session',
    text: `SELECT a.name, a.kind, a.admin, (extract(epoch FROM now() - s.last_seen_at) * 1000)::float8 AS "seenAgoMs"
      FROM browser_sessions s JOIN accounts a ON a.id = s.account_id
      WHERE s.id = $1 AND s.expires_at > now() AND s.last_seen_at > now() - $2 * interval '1 millisecond'
        AND a.credential_version = s.credential_version AND (a.expires_at IS NULL OR a.expires_at > now())`,
    values: [id, idleMs],
  });
  return rows[0];
}

export async function touchBrowserSession(db: Db, id: Buffer): Promise<void> {
  await db.query('UPDATE browser_sessions SET last_seen_at = now() WHERE id = $1', [id]);
}

export async function deleteBrowserSession(db: Db, id: Buffer): Promise<void> {
  await db.query('DELETE FROM browser_sessions WHERE id = $1', [id]);
}

