// The CLI's one "you called it wrong" error: the top level prints its message with a pointer to
// `berth help` and exits 2. Its own module, beside cli.ts, so that the client commands (src/client/)
// and the server-side ones (cli-accounts.ts) throw the same class without importing each other.
export class UsageError extends Error {
  override name = 'UsageError';
}
