// Webhooks (BERTH_WEBHOOKS) against a real receiver on 127.0.0.1: the envelope of a push, a tag
// move and deletes; the HMAC signature; retries after a 500; event filters; and a receiver that
// never answers costing a push nothing.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { CONNECT_TIMEOUT_MS, createPool } from '../../src/db/pool.js';
import type { RegistryEvent } from '../../src/notify/notifier.js';
import { WebhookNotifier, type EnvelopeEvent } from '../../src/notify/webhooks.js';
import { EVENT_ACTIONS, type WebhookEndpoint } from '../../src/notify/webhook-config.js';
import { buildImage, pushBlob, pushImage, putManifest, sha256 } from '../helpers/oci.js';
import { createTestDatabase } from '../helpers/database.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';
import { startTcpLink } from '../helpers/tcp-link.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  events: EnvelopeEvent[];
}

interface Receiver {
  url: string;
  received: Received[];
  /** Status to answer each request with, in order; 200 once exhausted. */
  statuses: number[];
  /** Never answer (a receiver that hangs). */
  hang: boolean;
  waitFor(count: number, ms?: number): Promise<Received[]>;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const receiver: Receiver = {
    url: '',
    received,
    statuses: [],
    hang: false,
    async waitFor(count, ms = 10_000) {
      const deadline = Date.now() + ms;
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`receiver got ${received.length} of ${count} deliveries in ${ms} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return received.slice(0, count);
    },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (receiver.hang) return;
      const body = Buffer.concat(chunks).toString('utf8');
      const status = receiver.statuses.shift() ?? 200;
      if (status < 300) received.push({ headers: req.headers, body, events: (JSON.parse(body) as { events: EnvelopeEvent[] }).events });
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  receiver.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
  return receiver;
}

const silent = pino({ level: 'silent' });

function notifierFor(endpoints: WebhookEndpoint[], options: { timeoutMs?: number } = {}) {
  return new WebhookNotifier(endpoints, {
    source: { addr: '127.0.0.1:5000', instanceID: 'test-instance' },
    logger: silent,
    backoffMs: 50,
    maxAttempts: 4,
    ...options,
  });
}

describe('webhooks: push, tag, delete envelopes', () => {
  let receiver: Receiver;
  let notifier: WebhookNotifier;
  let reg: TestRegistry;
  const secret = 's3cret-key';
  before(async () => {
    receiver = await startReceiver();
    notifier = notifierFor([{ url: receiver.url, events: EVENT_ACTIONS, secret }]);
    reg = await startTestRegistry({ notifier });
  });
  after(async () => {
    await notifier.close(0);
    await reg.close();
    await receiver.close();
  });

  it('a manifest push by tag sends push and tag events in one signed envelope', async () => {
    const image = await pushImage(reg.request, 'hooks/app', 'v1');
    const [delivery] = await receiver.waitFor(1);
    assert.equal(delivery!.headers['content-type'], 'application/vnd.docker.distribution.events.v1+json');
    const expected = `sha256=${createHmac('sha256', secret).update(delivery!.body).digest('hex')}`;
    assert.equal(delivery!.headers['x-berth-signature-256'], expected);
    const [push, tag] = delivery!.events;
    assert.equal(push!.action, 'push');
    assert.equal(push!.target.repository, 'hooks/app');
    assert.equal(push!.target.digest, image.digest);
    assert.equal(push!.target.tag, 'v1');
    assert.equal(push!.target.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(push!.target.size, image.manifest.length);
    assert.match(push!.target.url ?? '', new RegExp(`^http://127\\.0\\.0\\.1:\\d+/v2/hooks/app/manifests/${image.digest}$`));
    assert.equal(push!.actor.name, 'anonymous');
    assert.equal(push!.request.method, 'PUT');
    assert.deepEqual(push!.source, { addr: '127.0.0.1:5000', instanceID: 'test-instance' });
    assert.match(push!.id, /^[0-9a-f-]{36}$/);
    assert.ok(!Number.isNaN(Date.parse(push!.timestamp)));
    assert.equal(tag!.action, 'tag');
    assert.equal(tag!.target.tag, 'v1');
    assert.equal(tag!.target.previousDigest, null);
    receiver.received.length = 0;
  });

  it('moving a tag sends its previous digest; re-pushing the same digest sends push only', async () => {
    const first = await pushImage(reg.request, 'hooks/move', 'stable');
    const second = await pushImage(reg.request, 'hooks/move', 'stable');
    await pushImage(reg.request, 'hooks/move', 'stable', second);
    const deliveries = await receiver.waitFor(3);
    const moved = deliveries[1]!.events.find((e) => e.action === 'tag');
    assert.equal(moved?.target.digest, second.digest);
    assert.equal(moved?.target.previousDigest, first.digest);
    assert.deepEqual(deliveries[2]!.events.map((e) => e.action), ['push']);
    receiver.received.length = 0;
  });

  it('a rollback sends a rollback event with the digest it left; a dry run sends nothing', async () => {
    const first = await pushImage(reg.request, 'hooks/roll', 'prod');
    const second = await pushImage(reg.request, 'hooks/roll', 'prod');
    await receiver.waitFor(2);
    receiver.received.length = 0;
    await reg.request.post('/api/v1/repositories/hooks/roll/tags/prod/rollback').send({ to: 'previous', dryRun: true }).expect(200);
    await reg.request.post('/api/v1/repositories/hooks/roll/tags/prod/rollback').send({ to: 'previous' }).expect(200);
    const [delivery] = await receiver.waitFor(1);
    assert.deepEqual(delivery!.events.map((e) => e.action), ['rollback']);
    const [event] = delivery!.events;
    assert.equal(event!.target.repository, 'hooks/roll');
    assert.equal(event!.target.tag, 'prod');
    assert.equal(event!.target.digest, first.digest);
    assert.equal(event!.target.previousDigest, second.digest);
    assert.equal(receiver.received.length, 1);
    receiver.received.length = 0;
  });

  it('deleting a tag, a manifest and a blob each send delete events', async () => {
    const image = await pushImage(reg.request, 'hooks/del', 'a');
    await putManifest(reg.request, 'hooks/del', 'b', image.manifest).expect(201);
    await receiver.waitFor(2);
    receiver.received.length = 0;
    await reg.request.delete('/v2/hooks/del/manifests/a').expect(202);
    await reg.request.delete(`/v2/hooks/del/manifests/${image.digest}`).expect(202);
    await reg.request.delete(`/v2/hooks/del/blobs/${sha256(image.layers[0]!)}`).expect(202);
    const [byTag, byDigest, blob] = await receiver.waitFor(3);
    assert.deepEqual(byTag!.events.map((e) => [e.action, e.target.tag, e.target.digest]), [['delete', 'a', image.digest]]);
    assert.deepEqual(byDigest!.events.map((e) => [e.action, e.target.tag ?? null]), [['delete', 'b'], ['delete', null]]);
    assert.equal(blob!.events[0]!.action, 'delete');
    assert.match(blob!.events[0]!.target.url ?? '', /\/v2\/hooks\/del\/blobs\/sha256:/);
  });

  it('a refused delete (unknown manifest) sends nothing', async () => {
    receiver.received.length = 0;
    await reg.request.delete('/v2/hooks/del/manifests/nope').expect(404);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(receiver.received.length, 0);
  });
});

describe('webhooks: delivery', () => {
  it('retries after a 500 until the receiver takes it, with the same body', async () => {
    const receiver = await startReceiver();
    receiver.statuses = [500, 503];
    const notifier = notifierFor([{ url: receiver.url, events: EVENT_ACTIONS, secret: undefined }]);
    const reg = await startTestRegistry({ notifier });
    try {
      await pushImage(reg.request, 'hooks/retry', 'v1');
      const [delivery] = await receiver.waitFor(1);
      assert.equal(receiver.statuses.length, 0, 'both failures were answered before the success');
      assert.equal(delivery!.events[0]!.action, 'push');
      assert.equal(delivery!.headers['x-berth-signature-256'], undefined, 'no secret, no signature');
    } finally {
      await notifier.close(0);
      await reg.close();
      await receiver.close();
    }
  });

  it('an endpoint that asks for delete events only gets nothing for a push', async () => {
    const all = await startReceiver();
    const deletes = await startReceiver();
    const notifier = notifierFor([
      { url: all.url, events: EVENT_ACTIONS, secret: undefined },
      { url: deletes.url, events: ['delete'], secret: undefined },
    ]);
    const reg = await startTestRegistry({ notifier });
    try {
      await pushImage(reg.request, 'hooks/filter', 'v1');
      await all.waitFor(1);
      await reg.request.delete('/v2/hooks/filter/manifests/v1').expect(202);
      const [onlyDelete] = await deletes.waitFor(1);
      await all.waitFor(2);
      assert.deepEqual(onlyDelete!.events.map((e) => e.action), ['delete']);
      assert.equal(deletes.received.length, 1);
    } finally {
      await notifier.close(0);
      await reg.close();
      await Promise.all([all.close(), deletes.close()]);
    }
  });

  it('a receiver that never answers does not slow pushes down', async () => {
    const receiver = await startReceiver();
    receiver.hang = true;
    const notifier = notifierFor([{ url: receiver.url, events: EVENT_ACTIONS, secret: undefined }], { timeoutMs: 5000 });
    const reg = await startTestRegistry({ notifier });
    try {
      const image = buildImage();
      for (const blob of [image.config, ...image.layers]) await pushBlob(reg.request, 'hooks/dead', blob);
      const started = Date.now();
      for (let i = 0; i < 5; i++) {
        await putManifest(reg.request, 'hooks/dead', `t${i}`, image.manifest).expect(201);
      }
      const ms = Date.now() - started;
      // Each delivery waits 5 s for an answer; five pushes blocked by it would take 25 s.
      assert.ok(ms < 2000, `5 manifest pushes took ${ms} ms with a hanging receiver`);
    } finally {
      await notifier.close(0);
      await reg.close();
      await receiver.close();
    }
  });

  it('drops events beyond the queue bound instead of growing memory', async () => {
    const receiver = await startReceiver();
    receiver.hang = true;
    const notifier = new WebhookNotifier([{ url: receiver.url, events: EVENT_ACTIONS, secret: undefined }], {
      source: { addr: 'x', instanceID: 'y' },
      logger: silent,
      maxQueue: 3,
      timeoutMs: 60_000,
    });
    try {
      for (let i = 0; i < 10; i++) notifier.notify([{ action: 'push', repository: 'r', digest: `sha256:${i}`, actor: 'a' }]);
      const queued = (notifier as unknown as { queues: { length: number }[] }).queues[0]!.length;
      assert.equal(queued, 3);
    } finally {
      await notifier.close(0);
      await receiver.close();
    }
  });
});

describe('webhooks behind a trusted proxy', () => {
  it('target URLs and request addresses come from X-Forwarded-*', async () => {
    const receiver = await startReceiver();
    const notifier = notifierFor([{ url: receiver.url, events: ['push'], secret: undefined }]);
    const reg = await startTestRegistry({ notifier, trustProxy: true });
    try {
      const image = buildImage();
      for (const blob of [image.config, ...image.layers]) await pushBlob(reg.request, 'hooks/proxy', blob);
      await putManifest(reg.request, 'hooks/proxy', 'v1', image.manifest)
        .set('X-Forwarded-Proto', 'https')
        .set('X-Forwarded-Host', 'registry.example.com')
        .set('X-Forwarded-For', '203.0.113.7')
        .expect(201);
      const [delivery] = await receiver.waitFor(1);
      const push = delivery!.events[0]!;
      assert.equal(push.target.url, `https://registry.example.com/v2/hooks/proxy/manifests/${image.digest}`);
      assert.equal(push.request.addr, '203.0.113.7');
      assert.equal(push.request.host, 'registry.example.com');
    } finally {
      await notifier.close(0);
      await reg.close();
      await receiver.close();
    }
  });
});

describe('webhooks while PostgreSQL is unreachable', () => {
  it('delivers without waiting on the delivery records, says once that it cannot record them, and records again once the database is back', async () => {
    const receiver = await startReceiver();
    const db = await createTestDatabase();
    const url = new URL(db.url);
    const link = await startTcpLink({ host: url.hostname, port: Number(url.port) });
    url.port = String(link.port);
    const pool = createPool(url.toString());
    const logLines: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as { level: number; msg: string }) });
    const notifier = new WebhookNotifier([{ url: receiver.url, events: EVENT_ACTIONS, secret: undefined }], {
      source: { addr: '127.0.0.1:5000', instanceID: 'test-instance' },
      logger,
      db: pool,
    });
    const event = (tag: string): RegistryEvent => ({ action: 'tag', repository: 'hooks/dbdown', digest: `sha256:${'a'.repeat(64)}`, tag, actor: 'anonymous' });
    const unrecordable = () => logLines.filter((l) => /could not record webhook deliveries/.test(l.msg));
    const waitForLog = async (pattern: RegExp) => {
      const deadline = Date.now() + 6 * CONNECT_TIMEOUT_MS;
      while (!logLines.some((l) => pattern.test(l.msg))) {
        if (Date.now() > deadline) throw new Error(`no log line ${pattern}: ${JSON.stringify(logLines)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      // A server that drops packets: every record write waits for the connect timeout.
      await link.blackHole();
      for (const tag of ['a', 'b', 'c', 'd', 'e']) notifier.notify([event(tag)]);
      // Written one after the other, the records would hold the queue for a connect timeout each.
      const delivered = await receiver.waitFor(5, CONNECT_TIMEOUT_MS);
      assert.deepEqual(delivered.map((d) => d.events[0]!.target.tag), ['a', 'b', 'c', 'd', 'e']);
      await waitForLog(/could not record webhook deliveries/);
      // A server that refuses: more deliveries, more failed writes, no more log lines.
      await link.cut();
      for (const tag of ['f', 'g', 'h']) notifier.notify([event(tag)]);
      await receiver.waitFor(8);
      await link.mend();
      notifier.notify([event('i')]);
      await receiver.waitFor(9);
      await waitForLog(/recording webhook deliveries again/);
      assert.equal(unrecordable().length, 1, JSON.stringify(unrecordable()));
      assert.equal(unrecordable()[0]!.level, 40, 'a warning');
      const [status] = await notifier.status();
      assert.equal(status!.recent[0]?.outcome, 'delivered');
      assert.deepEqual(status!.recent[0]?.actions, ['tag']);
    } finally {
      await notifier.close(0);
      await link.close();
      await pool.end();
      await db.drop();
      await receiver.close();
    }
  });
});
