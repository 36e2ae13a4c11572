// The root pino logger: JSON lines, credentials redacted wherever they might appear.
import { pino, type Logger } from 'pino';

/** `cli`: synchronous lines on stderr, for commands whose stdout is their report and that exit at once. */
export function createLogger(level: string, options_: { cli?: boolean } = {}): Logger {
  // Asynchronous writes: a synchronous write per request line costs the hot path a syscall.
  // Callers that exit flush first (server shutdown does).
  const destination = options_.cli ? pino.destination({ dest: 2, sync: true }) : pino.destination({ dest: 1, sync: false });
  const options = {
    level,
    base: { service: 'berth' },
    redact: {
      paths: ['authorization', 'password', 'token', '*.authorization', '*.password', '*.token', 'headers.cookie'],
      censor: '[redacted]',
    },
  };
  return pino(options, destination);
}
