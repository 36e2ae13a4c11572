// A start-up failure whose message is the whole answer: one line naming the setting and the fix,
// printed without a stack trace (src/cli.ts).
export class StartupError extends Error {
  override name = 'StartupError';
}

/**
 * What the CLI prints for a failure: the message alone for a known one; for anything else its
 * message on one line too, the stack only with LOG_LEVEL=debug (and never "undefined").
 */
export function unexpectedErrorText(err: unknown, known: boolean, env: NodeJS.ProcessEnv = process.env): string {
  const debug = env.LOG_LEVEL === 'debug' || env.LOG_LEVEL === 'trace';
  if (err instanceof Error) {
    if (debug && !known) return err.stack ?? err.message;
    if (known) return err.message;
    return `${err.message || err.name} (set LOG_LEVEL=debug for details)`;
  }
  return 'failed without giving a reason; set LOG_LEVEL=debug and retry for details';
}
