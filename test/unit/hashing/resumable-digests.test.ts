// Resumable digests: the native module (src/native/resumable-sha.c) against node:crypto, its saved
// states continued elsewhere or refused when damaged, and the choice between it and hash-wasm,
// including uploads that replicas with and without the module share.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { nativeSha, nativeStateAlgorithm } from '../../../src/hashing/native-sha.js';
import type { RunningDigest } from '../../../src/hashing/running-digest.js';
import { ResumableDigests } from '../../../src/hashing/upload-digest.js';
import { requireNativeSha } from '../../helpers/native-sha.js';

const run = promisify(execFile);

async function feed(digest: RunningDigest, bytes: Buffer, chunk: number): Promise<void> {
  for (let at = 0; at < bytes.length; at += chunk) await digest.update(bytes.subarray(at, at + chunk));
}

const expected = (algorithm: 'sha256' | 'sha512', bytes: Buffer) => createHash(algorithm).update(bytes).digest('hex');

describe('native SHA module', () => {
  it('digests like node:crypto, saved and restored at every cut, for sha256 and sha512', (t) => {
    const sha = requireNativeSha(t);
    if (!sha) return;
    const bytes = randomBytes(20_000);
    for (const algorithm of ['sha256', 'sha512'] as const) {
      // Cuts inside a block, on block boundaries (64 and 128), and past several blocks.
      for (const step of [1, 63, 64, 65, 127, 128, 129, 1000, 8191]) {
        let context = sha.create(algorithm);
        for (let at = 0; at < bytes.length; at += step) {
          sha.update(context, bytes.subarray(at, at + step));
          context = sha.restore(sha.save(context))!;
        }
        assert.equal(sha.digest(context).toString('hex'), expected(algorithm, bytes), `${algorithm}, saved every ${step} bytes`);
      }
      assert.equal(sha.digest(sha.restore(sha.save(sha.create(algorithm)))!).toString('hex'), expected(algorithm, Buffer.alloc(0)));
    }
  });

  it('saves states that say their algorithm, and refuses damaged ones', (t) => {
    const sha = requireNativeSha(t);
    if (!sha) return;
    const context = sha.create('sha256');
    sha.update(context, Buffer.alloc(70, 'b')); // one 64-byte block hashed, 6 bytes pending
    const state = sha.save(context);
    assert.equal(nativeStateAlgorithm(state), 'sha256');
    assert.equal(nativeStateAlgorithm(sha.save(sha.create('sha512'))), 'sha512');
    assert.equal(nativeStateAlgorithm(Buffer.from('something else')), undefined);

    const damaged = (change: (b: Buffer) => Buffer) => change(Buffer.from(state));
    assert.equal(sha.restore(damaged((b) => b.subarray(0, b.length - 1))), null, 'truncated');
    assert.equal(sha.restore(Buffer.alloc(0)), null, 'empty');
    assert.equal(sha.restore(Buffer.concat([state, Buffer.from([0])])), null, 'a byte too many');
    assert.equal(sha.restore(damaged((b) => (b[3] = 2, b))), null, 'another format version');
    assert.equal(sha.restore(damaged((b) => (b[4] = 9, b))), null, 'unknown algorithm');
    // The pending byte count must agree with the message length (70: 6 pending); the length is
    // the 8 bytes before the pending ones.
    assert.equal(state.length, 6 + 32 + 8 + 6);
    assert.equal(sha.restore(damaged((b) => (b[5] = 7, b))), null, 'pending count off');
    assert.equal(sha.restore(damaged((b) => (b.writeUInt8(b.readUInt8(b.length - 7) ^ 1, b.length - 7), b))), null, 'message length off');
    assert.ok(sha.restore(state), 'the undamaged state restores');
  });

  it('throws on arguments of the wrong kind instead of reading stray memory', (t) => {
    const sha = requireNativeSha(t);
    if (!sha) return;
    assert.throws(() => sha.create('md5' as 'sha256'), /unknown algorithm/);
    assert.throws(() => sha.update(Buffer.alloc(10), Buffer.from('x')), /context and Buffer expected/);
    assert.throws(() => sha.update(sha.create('sha256'), 'text' as unknown as Buffer), /context and Buffer expected/);
    assert.throws(() => sha.digest(Buffer.alloc(3)), /context expected/);
    assert.throws(() => sha.restore('state' as unknown as Buffer), /Buffer expected/);
  });
});

describe('ResumableDigests', () => {
  const withModule = new ResumableDigests(nativeSha());
  const withoutModule = new ResumableDigests(undefined);
  after(() => Promise.all([withModule.stop(), withoutModule.stop()]));

  it('continues a native state in another instance, as another replica would', async (t) => {
    if (!requireNativeSha(t)) return;
    const bytes = randomBytes(3 * 1024 * 1024 + 5);
    const cut = 1024 * 1024 + 3;
    const first = withModule.open('sha512')!;
    await feed(first, bytes.subarray(0, cut), 65536);
    const state = await first.save();
    assert.equal(nativeStateAlgorithm(state!), 'sha512');
    const second = new ResumableDigests(nativeSha()).open('sha512', state!)!;
    await feed(second, bytes.subarray(cut), 65536);
    assert.equal(await second.finish(), expected('sha512', bytes));
  });

  it('gives no digest for a state it cannot continue: the upload is then hashed from its staged bytes', async (t) => {
    if (!requireNativeSha(t)) return;
    const native = withModule.open('sha256')!;
    native.update(Buffer.from('abc'));
    const state = (await native.save())!;
    assert.equal(withoutModule.open('sha256', state), undefined, 'a native state where the module is missing');
    assert.equal(withModule.open('sha512', state), undefined, 'a sha256 state asked to go on as sha512');
    const damaged = Buffer.from(state);
    damaged[5] = 60;
    assert.equal(withModule.open('sha256', damaged), undefined, 'a damaged native state');
  });

  it('a replica without the module hashes with hash-wasm, and one with it continues that state', async () => {
    const bytes = randomBytes(2 * 1024 * 1024 + 9);
    const cut = 1024 * 1024 + 1;
    const wasm = withoutModule.open('sha256')!;
    await feed(wasm, bytes.subarray(0, cut), 65536);
    const state = (await wasm.save())!;
    assert.equal(nativeStateAlgorithm(state), undefined, 'a hash-wasm state');
    const continued = withModule.open('sha256', state)!;
    await feed(continued, bytes.subarray(cut), 65536);
    assert.equal(await continued.finish(), expected('sha256', bytes));
  });
});

describe('src/native/build.mjs', () => {
  it('without a C compiler warns and exits 0 (Berth runs on hash-wasm), and fails with --require', async () => {
    const env = { ...process.env, CC: '/nonexistent/cc' };
    const { stderr } = await run(process.execPath, ['src/native/build.mjs'], { env });
    assert.match(stderr, /native SHA module was not built: no C compiler \(\/nonexistent\/cc\)/);
    assert.match(stderr, /hash-wasm/);
    await assert.rejects(run(process.execPath, ['src/native/build.mjs', '--require'], { env }), (err: { code: number }) => err.code === 1);
  });
});
