// Webhook deliveries (BERTH_WEBHOOKS). Each endpoint has its own in-memory queue, sent in order,
// one request at a time; a failed delivery (network error, timeout, non-2xx) is retried with
// exponential backoff, then dropped with a log line. notify() only enqueues, so a dead receiver
// costs a push nothing. The queue is bounded: a receiver that stays down cannot grow memory.
// Deliveries still queued when the process stops are lost (the shutdown waits a little for them).
//
// The body follows Distribution's notification envelope
// (https://distribution.github.io/distribution/about/notifications/), plus our `tag` and
// `rollback` actions and `target.previousDigest`. With a secret, `X-Berth-Signature-256:
// sha256=<hex HMAC-SHA256 of the body>` lets the receiver check it came from us.
import { createHmac, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/metrics.js';
import type { DeliveryRecord, Notifier, RegistryEvent, WebhookStatus } from './notifier.js';
import type { WebhookEndpoint } from './webhook-config.js';
import type { Db } from '../db/pool.js';
import { insertWebhookDelivery, recentWebhookDeliveries } from '../db/webhook-deliveries.js';

export const SIGNATURE_HEADER = 'X-Berth-Signature-256';
export const EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json';

export interface WebhookOptions {
  /** This process, as `source` in every event. */
  source: { addr: string; instanceID: string };
  /** Base URL for target URLs when the request gave none (BERTH_PUBLIC_URL). */
  publicUrl?: string | undefined;
  logger: Logger;
  metrics?: Metrics | undefined;
  /** Delivery attempts in all, the first included (default 6: ~1 min of retries). */
  maxAttempts?: number;
  /** First retry delay; doubled after each failure (default 1 s, capped at 30 s). */
  backoffMs?: number;
  /** One attempt may take this long (default 10 s). */
  timeoutMs?: number;
  /** Envelopes waiting per endpoint beyond which new ones are dropped (default 1000). */
  maxQueue?: number;
  /** Where deliveries are recorded, for every replica's administration page; without it, this process's memory. */
  db?: Db | undefined;
}

interface Delivery {
  body: string;
  attempts: number;
}

/** Deliveries remembered per receiver for the administration page. */
const RECENT_DELIVERIES = 20;

/** A URL as an administrator may see it: no user info, query or fragment. */
function displayUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

export interface EnvelopeEvent {
  id: string;
  timestamp: string;
  action: string;
  target: {
    mediaType?: string;
    size?: number;
    digest: string;
    repository: string;
    url?: string;
    tag?: string;
    previousDigest?: string | null;
  };
  request: { id?: string; addr?: string; host?: string; method?: string; useragent?: string };
  actor: { name: string };
  source: { addr: string; instanceID: string };
}

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

class EndpointQueue {
  private readonly pending: Delivery[] = [];
  private running = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private inflight: AbortController | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly recent: DeliveryRecord[] = [];
  /** Records waiting to be written to the database, oldest first; never more than RECENT_DELIVERIES. */
  private readonly unrecorded: DeliveryRecord[] = [];
  /** The writer of `unrecorded`, while it runs. */
  private recording: Promise<void> | undefined;
  /** A record write failed and nothing has been written since: said once, not per delivery. */
  private recordsFailing = false;

  constructor(
    readonly endpoint: WebhookEndpoint,
    private readonly options: Required<Pick<WebhookOptions, 'maxAttempts' | 'backoffMs' | 'timeoutMs' | 'maxQueue'>> & WebhookOptions,
  ) {}

  get length(): number {
    return this.pending.length;
  }

  async status(): Promise<WebhookStatus> {
    const url = displayUrl(this.endpoint.url);
    const db = this.options.db;
    const recent = db ? ((await recentWebhookDeliveries(db, [url], RECENT_DELIVERIES)).get(url) ?? []) : [...this.recent];
    return { url, events: this.endpoint.events, signed: this.endpoint.secret !== undefined, queued: this.pending.length, recent };
  }

  private record(delivery: Delivery, outcome: DeliveryRecord['outcome'], problem: string | undefined): void {
    let actions: string[] = [];
    try {
      actions = (JSON.parse(delivery.body) as { events: { action: string }[] }).events.map((e) => e.action);
    } catch {
      // Our own JSON: cannot happen; the record goes without actions then.
    }
    const record: DeliveryRecord = { at: new Date().toISOString(), outcome, attempt: delivery.attempts, actions, problem: problem ?? null };
    if (!this.options.db) {
      this.recent.unshift(record);
      this.recent.length = Math.min(this.recent.length, RECENT_DELIVERIES);
      return;
    }
    // Written apart from the delivery loop: a database that is away (each write may wait for the
    // connect timeout) neither delays nor fails a delivery. Only the newest records matter.
    this.unrecorded.push(record);
    if (this.unrecorded.length > RECENT_DELIVERIES) this.unrecorded.shift();
    this.recording ??= this.writeRecords(this.options.db).finally(() => {
      this.recording = undefined;
    });
  }

  private async writeRecords(db: Db): Promise<void> {
    const webhook = displayUrl(this.endpoint.url);
    while (!this.stopped && this.unrecorded.length > 0) {
      const record = this.unrecorded.shift()!;
      try {
        await insertWebhookDelivery(db, webhook, record, RECENT_DELIVERIES);
        if (this.recordsFailing) this.options.logger.info({ webhook }, 'recording webhook deliveries again');
        this.recordsFailing = false;
      } catch (err) {
        // The deliveries happened (or failed) either way; only the administration page misses them.
        // What is waiting would fail the same way: dropped, and the next delivery tries again.
        if (!this.recordsFailing) this.options.logger.warn({ err, webhook }, 'could not record webhook deliveries; they are not recorded until this works again');
        this.recordsFailing = true;
        this.unrecorded.length = 0;
      }
    }
  }

  push(body: string): void {
    if (this.stopped) return;
    if (this.pending.length >= this.options.maxQueue) {
      this.options.metrics?.webhookDeliveries.inc({ outcome: 'dropped' });
      this.options.logger.warn({ webhook: this.endpoint.url, queued: this.pending.length }, 'webhook queue full; event dropped');
      return;
    }
    this.pending.push({ body, attempts: 0 });
    this.options.metrics?.webhookQueue.inc();
    if (!this.running) void this.run();
  }

  /** Resolves once nothing is queued and every record is written (or the queue was stopped). */
  async idle(): Promise<void> {
    if (this.running && !this.stopped) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.recording;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.inflight?.abort();
    this.wake?.();
    this.options.metrics?.webhookQueue.dec(this.pending.length);
    this.pending.length = 0;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
      // Retries never keep a stopping process alive.
      this.timer.unref();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (!this.stopped && this.pending.length > 0) {
        const delivery = this.pending[0]!;
        delivery.attempts += 1;
        const problem = await this.send(delivery.body);
        if (this.stopped) return;
        if (problem === undefined) {
          this.options.metrics?.webhookDeliveries.inc({ outcome: 'delivered' });
          this.record(delivery, 'delivered', undefined);
        } else if (delivery.attempts < this.options.maxAttempts) {
          this.options.metrics?.webhookDeliveries.inc({ outcome: 'retry' });
          this.record(delivery, 'retry', problem);
          const delay = Math.min(this.options.backoffMs * 2 ** (delivery.attempts - 1), 30_000);
          this.options.logger.warn({ webhook: this.endpoint.url, attempt: delivery.attempts, problem, retryInMs: delay }, 'webhook delivery failed; will retry');
          await this.sleep(delay);
          continue;
        } else {
          this.options.metrics?.webhookDeliveries.inc({ outcome: 'failed' });
          this.record(delivery, 'failed', problem);
          this.options.logger.error({ webhook: this.endpoint.url, attempts: delivery.attempts, problem }, 'webhook delivery failed; giving up');
        }
        this.pending.shift();
        this.options.metrics?.webhookQueue.dec();
      }
    } finally {
      this.running = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  /** One attempt; undefined when the receiver took it (2xx), otherwise what went wrong. */
  private async send(body: string): Promise<string | undefined> {
    const headers: Record<string, string> = { 'Content-Type': EVENTS_MEDIA_TYPE, 'User-Agent': 'berth-webhooks' };
    if (this.endpoint.secret) headers[SIGNATURE_HEADER] = signBody(this.endpoint.secret, body);
    const controller = new AbortController();
    this.inflight = controller;
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
    try {
      const res = await fetch(this.endpoint.url, { method: 'POST', headers, body, signal: controller.signal, redirect: 'manual' });
      await res.arrayBuffer().catch(() => undefined);
      return res.status >= 200 && res.status < 300 ? undefined : `HTTP ${res.status}`;
    } catch (err) {
      const reason = controller.signal.reason as Error | undefined;
      return controller.signal.aborted && reason ? reason.message : ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
    } finally {
      clearTimeout(timer);
      this.inflight = undefined;
    }
  }
}

export class WebhookNotifier implements Notifier {
  private readonly queues: EndpointQueue[];

  constructor(
    endpoints: readonly WebhookEndpoint[],
    private readonly options: WebhookOptions,
  ) {
    const resolved = {
      maxAttempts: 6,
      backoffMs: 1000,
      timeoutMs: 10_000,
      maxQueue: 1000,
      ...options,
    };
    this.queues = endpoints.map((e) => new EndpointQueue(e, resolved));
  }

  status(): Promise<WebhookStatus[]> {
    return Promise.all(this.queues.map((q) => q.status()));
  }

  notify(events: readonly RegistryEvent[]): void {
    if (events.length === 0) return;
    const envelope = events.map((e) => this.toEnvelopeEvent(e));
    for (const queue of this.queues) {
      const wanted = envelope.filter((e) => queue.endpoint.events.includes(e.action as never));
      if (wanted.length > 0) queue.push(JSON.stringify({ events: wanted }));
    }
  }

  /** Waits up to `ms` for queued deliveries to go out (shutdown), then stops retrying. */
  async close(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.queues.map((q) => q.idle())),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
    ]);
    clearTimeout(timer);
    const lost = this.queues.reduce((n, q) => n + q.length, 0);
    if (lost > 0) this.options.logger.warn({ lost }, 'webhook deliveries still queued at shutdown are dropped');
    for (const q of this.queues) q.stop();
  }

  private toEnvelopeEvent(e: RegistryEvent): EnvelopeEvent {
    const base = e.request?.baseUrl ?? this.options.publicUrl;
    const path = e.kind === 'blob' ? `/v2/${e.repository}/blobs/${e.digest}` : `/v2/${e.repository}/manifests/${e.digest}`;
    const target: EnvelopeEvent['target'] = { digest: e.digest, repository: e.repository };
    if (e.mediaType !== undefined) target.mediaType = e.mediaType;
    if (e.size !== undefined) target.size = e.size;
    if (base !== undefined) target.url = base + path;
    if (e.tag !== undefined) target.tag = e.tag;
    if (e.previousDigest !== undefined) target.previousDigest = e.previousDigest;
    const r = e.request;
    const request: EnvelopeEvent['request'] = {};
    if (r?.id) request.id = r.id;
    if (r?.addr) request.addr = r.addr;
    if (r?.host) request.host = r.host;
    if (r?.method) request.method = r.method;
    if (r?.userAgent) request.useragent = r.userAgent;
    return {
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      action: e.action,
      target,
      request,
      actor: { name: e.actor },
      source: this.options.source,
    };
  }
}
