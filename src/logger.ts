// The root pino logger: JSON lines, credentials redacted wherever they might appear.
import { pino, type DestinationStream, type Logger } from 'pino';

/** Field names that hold credentials, wherever they appear (top level or one object down). */
const SECRET_FIELDS = [
  'authorization',
  'Authorization',
  'password',
  'secret',
  'token',
  'access_token',
  'refresh_token',
  'privateKey',
  'privateKeyPem',
  'private_pem',
  'cookie',
];

export const REDACT_PATHS = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
];

/**
 * The root logger, on stdout. `destination`: a stream tests read what was logged from, or
 * `{ cli: true }` for synchronous lines on stderr (commands whose stdout is their report and that
 * exit at once).
 */
export function createLogger(level: string, destination?: DestinationStream | { cli: true }): Logger {
  const options = {
    level,
    base: { service: 'berth' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  // Asynchronous writes: a synchronous write per request line costs the hot path a syscall.
  // Callers that exit flush first (server shutdown does).
  if (destination && 'cli' in destination) return pino(options, pino.destination({ dest: 2, sync: true }));
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}
