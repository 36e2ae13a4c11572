// The one way the registry tells the outside world what changed. Services call notify() after
// their transaction committed; it never waits and never throws, so a slow or dead receiver cannot
// slow a push. Emitted: `push` (manifest pushed), `tag` (a tag created or moved), `delete`
// (manifest, tag or blob removed), `rollback` (a tag put back; for the rollback code to emit).
import type { EventAction } from './webhook-config.js';

/** The request that caused an event, as Distribution's notifications describe it. */
export interface RequestInfo {
  id?: string | undefined;
  /** Client address. */
  addr?: string | undefined;
  /** Host header the client used. */
  host?: string | undefined;
  method?: string | undefined;
  userAgent?: string | undefined;
  /** The registry's absolute base URL for this request (target URLs are built on it). */
  baseUrl?: string | undefined;
}

export interface RegistryEvent {
  action: EventAction;
  repository: string;
  /** Digest of the manifest or blob concerned. */
  digest: string;
  mediaType?: string | undefined;
  size?: number | undefined;
  tag?: string | undefined;
  /** `tag` and `rollback`: what the tag pointed at before (null when it is new). */
  previousDigest?: string | null | undefined;
  /** Whether the target is a manifest (default) or a blob: decides its URL. */
  kind?: 'manifest' | 'blob';
  /** Who did it: the principal's subject. */
  actor: string;
  request?: RequestInfo | undefined;
}

export interface Notifier {
  /** Queues the events (one envelope per receiver); returns at once. */
  notify(events: readonly RegistryEvent[]): void;
  /** Each receiver with its queue (this process's) and latest deliveries (every replica's), for administrators. */
  status?(): Promise<WebhookStatus[]>;
}

export interface DeliveryRecord {
  at: string;
  outcome: 'delivered' | 'retry' | 'failed';
  attempt: number;
  /** The actions the envelope carried. */
  actions: string[];
  problem: string | null;
}

export interface WebhookStatus {
  /** The receiver's URL without credentials or query (they may hold secrets). */
  url: string;
  events: readonly string[];
  signed: boolean;
  queued: number;
  /** Newest first. */
  recent: DeliveryRecord[];
}

/** No webhooks configured. */
export const silentNotifier: Notifier = { notify() {} };

/** Who changed something and through which request: what services receive from routes. */
export interface ChangeOrigin {
  actor: string;
  request?: RequestInfo | undefined;
}
