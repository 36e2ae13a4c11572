// BlobContent from what a driver has in hand: a body it writes itself (its fast path) or a stream.
// Each gets the other half of the interface: a stream for a body (for readers inside Berth, not
// the pull path), a send for a stream (the pull path's fallback).
import { pipeline, Readable, Writable } from 'node:stream';
import { countingStreamedBytes } from '../memory/streamed-garbage.js';
import type { BlobBody, BlobContent } from './blob-store.js';

/** A driver's body with a stream of it besides. */
export function bodyContent(body: BlobBody, via: 'file' | 'object-get'): BlobContent {
  return {
    length: body.length,
    via,
    sendTo: (out) => body.sendTo(out),
    stream: () => sentAsStream((out) => body.sendTo(out)),
    cancel: () => body.cancel(),
  };
}

/** A stream of `length` bytes, sent by piping it (its bytes counted as streamed garbage). */
export function streamContent(stream: Readable, length: number): BlobContent {
  return {
    length,
    via: 'stream',
    sendTo: (out) =>
      new Promise<void>((resolve) => {
        // pipeline destroys both ends on a failure: a response cut short is all a client can see.
        pipeline(countingStreamedBytes(stream), out, () => resolve());
      }),
    stream: () => stream,
    cancel: () => stream.destroy(),
  };
}

/**
 * What `send` writes, as a Readable. Each chunk is copied: a sender reuses its buffer once the
 * write is done, and a stream's reader may hold a chunk longer. A reader that stops early
 * destroys the sink, which the sender takes as a client gone.
 */
function sentAsStream(send: (out: Writable) => Promise<void>): Readable {
  let wanted: (() => void) | undefined;
  let ended = false;
  const stream = new Readable({
    read() {
      const go = wanted;
      wanted = undefined;
      go?.();
    },
    destroy(err, done) {
      sink.destroy();
      done(err);
    },
  });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (stream.push(Buffer.from(chunk))) done();
      else wanted = () => done();
    },
    final(done) {
      ended = true;
      stream.push(null);
      done();
    },
    destroy(err, done) {
      // A sender that gives up without a reason still must not leave the reader waiting.
      if (!ended) stream.destroy(err ?? new Error('the blob was cut short'));
      done(err);
    },
  });
  // A sender's failure reaches the reader through destroy() above; the sink itself has no reader.
  sink.on('error', () => {});
  void send(sink);
  return stream;
}
