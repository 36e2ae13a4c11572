// The upload side of the garbage collector's protocol (src/gc/collector.ts): a blob's bytes are put
// under its content address and its row recorded while holding the digest's shared advisory lock.
// The collector holds the same key exclusively from before it deletes a blob's row until the bytes
// are gone from the store, so a re-upload of a digest being collected either waits for the
// collector and then puts its bytes back (and its row), or makes the collector skip that digest.
//
// A closing PUT takes the guard in the same statement as the upload's lock and releases both in
// one (src/db/uploads.ts): these are the SQL expressions for that, with the digest as `param`.

/** Takes the shared guard of the digest in `param`, waiting while the collector holds it. */
export function blobGuardLock(param: string): string {
  return `pg_advisory_lock_shared(hashtextextended('blob:' || ${param}, 0))`;
}

/** Releases the shared guard of the digest in `param`. */
export function blobGuardUnlock(param: string): string {
  return `pg_advisory_unlock_shared(hashtextextended('blob:' || ${param}, 0))`;
}
