// One V8 setting for the server process, applied before it starts serving (see tuneHeap).
import v8 from 'node:v8';

/** Old generation allowed to grow to twice its live size before V8 marks it again. */
const HEAP_GROWING_FLAG = '--heap-growing-percent=100';

/**
 * Stops V8 from marking the old generation over and over while blobs stream in. Berth's live heap
 * is small (tens of MB) and a push allocates little that lives, but its young generation grows to
 * 16-32 MB while bytes flow; V8 starts incremental marking whenever the old generation's headroom
 * (limit − live) is below the young generation's size, and it sizes that limit from the GC speed
 * it observed: under CPU contention marking looks slow, the limit stays tight, and the process
 * settles into a mark-compact every ~100 ms (seen with --trace-gc; node user CPU of a chunked
 * push 5.5-6 s/GiB instead of 2.5). A fixed growing factor of 2 keeps the headroom above the
 * young generation; the cost is a JS heap up to ~2× live (tens of MB) between collections.
 * Set at run time: V8 reads this flag whenever it recomputes the limit. An operator's own
 * --heap-growing-percent (command line or NODE_OPTIONS) wins.
 *
 * Only with the fs store: on S3 the memory limit binds first (when measured, peak RSS pushing 1 GiB
 * to s3rver was 159-160 MiB with the flag, 132-147 without, against the bench's limit of 150), and
 * an S3 push is bound by the S3 server, not by collections (Berth CPU per GiB pushed in 8 MiB
 * chunks: 12.8 s with, 12.1 without).
 */
export function tuneHeap(storage: 'fs' | 's3'): void {
  if (storage !== 'fs') return;
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((arg) => arg.includes('heap-growing-percent'));
  if (!given) v8.setFlagsFromString(HEAP_GROWING_FLAG);
}
