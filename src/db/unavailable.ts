// Which errors mean "PostgreSQL cannot be reached right now" (a restart, a failover, a network
// cut) rather than "this query is wrong": the former become 503 + Retry-After and the request may
// be retried; the latter stay errors. Decided by the error's code wherever it has one.

/** Seconds a client is asked to wait before retrying while the database is away. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/** Socket errors of a connection that could not be made or was cut (Node's `err.code`). */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs of a server that is going away or not yet accepting connections: admin_shutdown
 * (a fast or smart shutdown, a failover), crash_shutdown (another backend crashed, or an
 * immediate shutdown), cannot_connect_now (starting up, or in recovery). Class 08 is
 * connection_exception as a whole.
 */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03']);

/**
 * Errors node-postgres raises for a lost or never-made connection without any code: a socket
 * closed under a client, a query on a client that already lost its connection, and the pool's or
 * the client's connect timeouts. Compared whole, never searched, so nothing else can match.
 */
const DRIVER_CONNECTION_ERRORS = new Set([
  'Connection terminated unexpectedly',
  'Connection terminated',
  'Connection terminated due to connection timeout',
  'timeout exceeded when trying to connect',
  // A client's own connectionTimeoutMillis (every pool's clients have one: see createPool).
  'timeout expired',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
]);

/** Berth's own word for it: an operation stopped because its database session was lost. */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

/** Errors tagged by markConnectionLost: whatever a client emitted when its connection died. */
const lostConnectionErrors = new WeakSet<object>();

export function markConnectionLost(err: unknown): void {
  if (typeof err === 'object' && err !== null) lostConnectionErrors.add(err);
}

/** True when `err` (or an error it wraps) says the database is unreachable rather than the query wrong. */
export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 4) return false;
  if (err instanceof DatabaseUnavailableError || lostConnectionErrors.has(err)) return true;
  const { code, syscall } = err as { code?: unknown; syscall?: unknown };
  if (typeof code === 'string') {
    if (SOCKET_CODES.has(code)) return true;
    // A Unix socket whose server is not running (its file is gone): only for a connect, never a file.
    if (code === 'ENOENT' && syscall === 'connect') return true;
    if (/^[0-9A-Z]{5}$/.test(code) && (UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('08'))) return true;
  }
  if (err instanceof Error && err.constructor === Error && DRIVER_CONNECTION_ERRORS.has(err.message)) return true;
  // Node's happy-eyeballs connect reports every address it tried in one AggregateError.
  if (err instanceof AggregateError && err.errors.some((e) => isDatabaseUnavailable(e, depth + 1))) return true;
  return 'cause' in err && isDatabaseUnavailable((err as { cause?: unknown }).cause, depth + 1);
}
