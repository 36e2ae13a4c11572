// Resumable digests on worker threads: the same digests as OpenSSL whatever the chunking, a saved
// state continued by another digest (another request, another replica), and failures surfaced.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { HashWorkers } from '../../../src/hashing/hash-workers.js';

describe('HashWorkers', () => {
  const workers = new HashWorkers(2);
  after(() => workers.stop());

  async function feed(digest: ReturnType<HashWorkers['open']>, bytes: Buffer, chunk: number): Promise<void> {
    for (let at = 0; at < bytes.length; at += chunk) await digest.update(bytes.subarray(at, at + chunk));
  }

  it('matches node:crypto for sha256 and sha512 across batch boundaries and odd chunk sizes', async () => {
    const bytes = randomBytes(5 * 1024 * 1024 + 17);
    for (const algorithm of ['sha256', 'sha512'] as const) {
      for (const chunk of [1, 4093, 65536, 3 * 1024 * 1024]) {
        const input = chunk === 1 ? bytes.subarray(0, 3000) : bytes;
        const digest = workers.open(algorithm);
        await feed(digest, input, chunk);
        assert.equal(await digest.finish(), createHash(algorithm).update(input).digest('hex'), `${algorithm} in chunks of ${chunk}`);
      }
    }
  });

  it('continues from a saved state in a new digest, as another replica would', async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 5);
    const cut = 1024 * 1024 + 3;
    const first = workers.open('sha256');
    await feed(first, bytes.subarray(0, cut), 65536);
    const state = await first.save();
    assert.ok(state && state.length > 0);
    const second = workers.open('sha256', state);
    await feed(second, bytes.subarray(cut), 65536);
    assert.equal(await second.finish(), createHash('sha256').update(bytes).digest('hex'));
  });

  it('digests the empty input', async () => {
    assert.equal(await workers.open('sha256').finish(), createHash('sha256').digest('hex'));
  });

  it('refuses to be used after it finished, and a corrupt saved state fails the digest', async () => {
    const digest = workers.open('sha256');
    await digest.finish();
    assert.throws(() => digest.update(Buffer.from('late')), /already finished/);
    await assert.rejects(digest.finish(), /already finished/);
    const corrupt = workers.open('sha256', Buffer.from('not a hash state'));
    await assert.rejects(corrupt.finish(), /hash worker/);
  });

  it('lets go of a dropped digest and keeps serving others', async () => {
    const dropped = workers.open('sha256');
    await dropped.update(randomBytes(2 * 1024 * 1024));
    dropped.dispose!();
    // One digest per thread, so one of them gets the dropped digest's hasher back, reset.
    for (let i = 0; i < 2; i++) {
      const next = workers.open('sha256');
      await next.update(Buffer.from('abc'));
      assert.equal(await next.finish(), createHash('sha256').update('abc').digest('hex'));
    }
  });
});
