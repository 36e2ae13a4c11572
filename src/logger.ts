// The root pino logger: JSON lines, credentials redacted wherever they might appear.
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  // Asynchronous writes: a synchronous write per request line costs the hot path a syscall.
  // Callers that exit flush first (server shutdown does).
  const destination = pino.destination({ dest: 1, sync: false });
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
