// Recent webhook delivery attempts (migration 0014) by every replica, per receiver, so the
// administration page shows the same list on each and a restart keeps it.
import type { DeliveryRecord } from '../notify/notifier.js';
import type { Db } from './pool.js';

export async function insertWebhookDelivery(db: Db, receiver: string, record: DeliveryRecord, kept: number): Promise<void> {
  await db.query('INSERT INTO webhook_deliveries (receiver, at, outcome, attempt, actions, problem) VALUES ($1, $2, $3, $4, $5, $6)', [
    receiver,
    record.at,
    record.outcome,
    record.attempt,
    record.actions,
    record.problem,
  ]);
  await db.query(
    `DELETE FROM webhook_deliveries WHERE receiver = $1
       AND id < (SELECT min(id) FROM (SELECT id FROM webhook_deliveries WHERE receiver = $1 ORDER BY id DESC LIMIT $2) AS kept)`,
    [receiver, kept],
  );
}

/** The newest `limit` deliveries of each receiver, newest first. */
export async function recentWebhookDeliveries(db: Db, receivers: readonly string[], limit: number): Promise<Map<string, DeliveryRecord[]>> {
  const { rows } = await db.query<Omit<DeliveryRecord, 'at'> & { receiver: string; at: Date }>(
    `SELECT receiver, at, outcome, attempt, actions, problem FROM (
       SELECT *, row_number() OVER (PARTITION BY receiver ORDER BY id DESC) AS n FROM webhook_deliveries WHERE receiver = ANY($1::text[])
     ) AS d WHERE n <= $2 ORDER BY receiver, id DESC`,
    [receivers, limit],
  );
  const byReceiver = new Map<string, DeliveryRecord[]>(receivers.map((r) => [r, []]));
  for (const { receiver, at, ...record } of rows) byReceiver.get(receiver)?.push({ at: at.toISOString(), ...record });
  return byReceiver;
}
