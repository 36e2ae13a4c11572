// The root pino logger: JSON lines, credentials redacted wherever they might appear.
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'berth' },
    redact: {
      paths: ['authorization', 'password', 'token', '*.authorization', '*.password', '*.token', 'headers.cookie'],
      censor: '[redacted]',
    },
  });
}
