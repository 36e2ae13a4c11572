// The upload side of the garbage collector's protocol (src/gc/collector.ts): a blob's bytes are put
// under its content address and its row recorded while holding the digest's shared advisory lock.
// The collector holds the same key exclusively from before it deletes a blob's row until the bytes
// are gone from the store, so a re-upload of a digest being collected either waits for the
// collector and then puts its bytes back (and its row), or makes the collector skip that digest.
//
// A closing PUT takes the guard in the round trip that takes the upload's lock (the function of
// migrations/0006_lock_upload.sql, which spells the same key) and releases both in one
// (src/db/uploads.ts); this is the SQL expression for the release, with the digest as `param`.

/** Releases the shared guard of the digest in `param`. */
export function blobGuardUnlock(param: string): string {
  return `pg_advisory_unlock_shared(hashtextextended('blob:' || ${param}, 0))`;
}
