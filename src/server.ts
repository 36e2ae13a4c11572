// `berth serve`: listen, and on SIGTERM/SIGINT (a second one: at once) stop accepting, let requests in flight finish (up
// to BERTH_SHUTDOWN_TIMEOUT), then close the pool and the embedded PostgreSQL.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type Koa from 'koa';
import { buildApp, buildOperationsApp } from './app.js';
import type { Config } from './config.js';
import { createTokenAuth, type TokenAuth } from './auth/token-auth.js';
import { gcOptions } from './gc/options.js';
import { createDeps } from './deps.js';
import { onGcResult } from './gc/report.js';
import { scheduleGc } from './gc/schedule.js';
import { purgeStaleUploads, schedulePurge } from './jobs/purge-uploads.js';
import { FreeSpaceGuard, reserveDirs } from './storage/free-space.js';
import { Metrics } from './metrics/metrics.js';
import { nativeShaUnavailable } from './hashing/native-sha.js';
import { WebhookNotifier } from './notify/webhooks.js';
import { tuneHeap } from './memory/v8-heap.js';
import { StartupError } from './startup-error.js';
import { describeListenError, describeTlsFileError } from './startup-errors.js';

/** Webhook deliveries still queued at shutdown get at most this long (within the timeout). */
const WEBHOOK_DRAIN_MS = 5000;
/** Signals this close to the first are copies of it (npm forwards the terminal's SIGINT). */
const SAME_KEYPRESS_MS = 1000;
/** How often abandoned uploads are looked for (more often when the TTL itself is shorter). */
const PURGE_EVERY_MS = 10 * 60_000;

export async function serve(config: Config): Promise<void> {
  tuneHeap(config.storage.driver);
  // Read before anything starts: a wrong path stops start-up with its message.
  const tls = config.tls && { cert: readTlsFile('BERTH_TLS_CERT', config.tls.certFile), key: readTlsFile('BERTH_TLS_KEY', config.tls.keyFile) };
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
          db: deps.pool,
        })
      : undefined;
  const freeSpace = new FreeSpaceGuard(
    reserveDirs({ blobRoot: config.storage.driver === 'fs' ? config.storage.root : undefined, dataDir: config.dataDir, embeddedPostgres: !config.databaseUrl }),
    config.minFreeSpace,
    { logger: deps.logger, metrics, purgeStale: () => purgeStaleUploads(deps.pool, deps.store, config.uploadTtlMs) },
  );
  let stopping = false;
  const draining = () => stopping;
  const app = buildApp({
    pool: deps.pool,
    lockPool: deps.lockPool,
    proxyLockPool: deps.proxyLockPool,
    store: deps.store,
    logger: deps.logger,
    publicUrl: config.publicUrl,
    trustProxy: config.trustProxy,
    sparseManifests: config.sparseManifests,
    ui: config.ui,
    gc: gcOptions(config),
    immutableTags: config.immutableTags,
    quotas: config.quotas,
    proxies: config.proxies,
    proxySpoolDir: path.join(config.dataDir, 'proxy-spool'),
    blobRedirect: config.storage.driver === 's3' && config.storage.redirect,
    auth,
    metrics,
    serveMetrics: config.metricsAddr === undefined,
    notifier,
    draining,
    freeSpace,
  });
  let server: http.Server;
  try {
    server = await listen(app, config.host, config.port, tls);
  } catch (err) {
    await deps.close();
    throw describeListenError(err, 'BERTH_ADDR', `${config.host}:${config.port}`) ?? err;
  }
  deps.logger.info({ addr: `${config.host}:${config.port}`, tls: tls !== undefined, storage: config.storage.driver, auth: config.auth }, 'berth listening');
  const noNativeSha = nativeShaUnavailable();
  if (noNativeSha && config.storage.driver === 's3') {
    deps.logger.warn({ reason: noNativeSha }, 'native SHA module missing: uploads to S3 keep their digests with hash-wasm, about 10x slower');
  }
  const metricsServer =
    config.metricsAddr &&
    (await listen(buildOperationsApp({ pool: deps.pool, store: deps.store, metrics, draining }), config.metricsAddr.host, config.metricsAddr.port).catch(async (err: unknown) => {
      server.close();
      await deps.close();
      throw describeListenError(err, 'BERTH_METRICS_ADDR', `${config.metricsAddr!.host}:${config.metricsAddr!.port}`) ?? err;
    }));
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

  let forced = false;
  let stoppingSince = 0;
  const shutdown = async (signal: string) => {
    if (stopping) {
      // A second Ctrl-C: cut what is still running now. Uploads cut off stay resumable sessions
      // and open transactions roll back, so still nothing half-written becomes visible; the pool
      // and PostgreSQL are closed by the shutdown already under way.
      // One Ctrl-C under `npm start` arrives twice (the terminal signals the whole group, npm
      // forwards it again): only a signal well after the first counts as a second one.
      if (forced || Date.now() - stoppingSince < SAME_KEYPRESS_MS) return;
      forced = true;
      deps.logger.warn({ signal }, 'second signal: closing the connections still open now');
      server.closeAllConnections();
      return;
    }
    stopping = true;
    stoppingSince = Date.now();
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
    await notifier?.close(forced ? 0 : Math.max(0, Math.min(WEBHOOK_DRAIN_MS, config.shutdownTimeoutMs - (Date.now() - started))));
    if (metricsServer) {
      metricsServer.closeAllConnections();
      await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
    }
    await deps.close();
    deps.logger.info('stopped');
    deps.logger.flush(() => process.exit(0));
  };
  // SIGINT (Ctrl-C) runs the same graceful shutdown as SIGTERM. The embedded PostgreSQL runs in
  // its own session, so the terminal's signal does not reach it: it is stopped last, above.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => void shutdown(signal));
  }
}

function readTlsFile(setting: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw describeTlsFileError(err, setting, file);
  }
}

async function listen(app: Koa, host: string, port: number, tls?: { cert: Buffer; key: Buffer }): Promise<http.Server> {
  let server: http.Server;
  try {
    server = tls ? https.createServer(tls, app.callback()) : http.createServer(app.callback());
  } catch (err) {
    throw new StartupError(`BERTH_TLS_CERT/BERTH_TLS_KEY are not a usable PEM certificate and matching key (${(err as Error).message}): check both files`);
  }
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
