// The CLI's one "you called it wrong" error: the top level prints its message with a pointer to
// `berth help` and exits 2. Its own module so that every command module can throw it without
// importing another command module.
export class UsageError extends Error {
  override name = 'UsageError';
}
