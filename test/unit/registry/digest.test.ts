import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { RegistryError } from '../../../src/errors/registry-error.js';
import {
  createDigestHash,
  digestOf,
  isDigestAlgorithm,
  looksLikeDigest,
  parseDigest,
  tryParseDigest,
} from '../../../src/registry/digest.js';

const HEX64 = 'a'.repeat(62) + '0f';
const HEX128 = '0123456789abcdef'.repeat(8);

function isDigestInvalid(err: unknown): boolean {
  return err instanceof RegistryError && err.code === 'DIGEST_INVALID' && err.status === 400;
}

describe('parseDigest / tryParseDigest (registry/digest)', () => {
  it('parses sha256 and sha512 digests into algorithm and hex', () => {
    assert.deepEqual(parseDigest(`sha256:${HEX64}`), { digest: `sha256:${HEX64}`, algorithm: 'sha256', hex: HEX64 });
    assert.deepEqual(parseDigest(`sha512:${HEX128}`), { digest: `sha512:${HEX128}`, algorithm: 'sha512', hex: HEX128 });
  });

  const rejected: [string, string][] = [
    ['upper-case hex', `sha256:${HEX64.toUpperCase()}`],
    ['an upper-case algorithm', `SHA256:${HEX64}`],
    ['a sha256 encoded part one character short', `sha256:${HEX64.slice(1)}`],
    ['a sha256 encoded part one character long', `sha256:${HEX64}0`],
    ['a sha512 encoded part of sha256 length', `sha512:${HEX64}`],
    ['a sha256 encoded part of sha512 length', `sha256:${HEX128}`],
    ['non-hex characters', `sha256:${'g'.repeat(64)}`],
    ['an unknown algorithm', `md5:${'a'.repeat(32)}`],
    ['an algorithm the grammar allows but Berth cannot verify', `blake3:${HEX64}`],
    ['a registered-looking algorithm with a separator', `sha256+b64u:${HEX64}`],
    ['no algorithm', `:${HEX64}`],
    ['no encoded part', 'sha256:'],
    ['no colon', HEX64],
    ['two colons', `sha256:${HEX64}:x`],
    ['surrounding whitespace', ` sha256:${HEX64}`],
    ['a trailing newline', `sha256:${HEX64}\n`],
    ['the conformance suite\'s bad digest', 'sha256:baddigeststring'],
    ['the empty string', ''],
  ];
  for (const [what, value] of rejected) {
    it(`rejects ${what} (undefined from tryParseDigest, DIGEST_INVALID from parseDigest)`, () => {
      assert.equal(tryParseDigest(value), undefined);
      assert.throws(() => parseDigest(value), isDigestInvalid);
    });
  }

  it('throws DIGEST_INVALID for a missing digest', () => {
    assert.throws(() => parseDigest(undefined), isDigestInvalid);
  });
});

describe('digest helpers (registry/digest)', () => {
  it('digestOf hashes with sha256 by default and sha512 on request', () => {
    const bytes = Buffer.from('hello');
    assert.equal(digestOf(bytes), `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    assert.equal(digestOf(bytes, 'sha512'), `sha512:${createHash('sha512').update(bytes).digest('hex')}`);
    assert.equal(digestOf(new Uint8Array()), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.ok(tryParseDigest(digestOf(bytes, 'sha512')));
  });

  it('createDigestHash gives the same digest incrementally', () => {
    const h = createDigestHash('sha512');
    h.update('hel');
    h.update('lo');
    assert.equal(`sha512:${h.digest('hex')}`, digestOf(Buffer.from('hello'), 'sha512'));
  });

  it('isDigestAlgorithm knows exactly sha256 and sha512', () => {
    assert.ok(isDigestAlgorithm('sha256'));
    assert.ok(isDigestAlgorithm('sha512'));
    for (const a of ['sha384', 'SHA256', 'md5', '']) assert.equal(isDigestAlgorithm(a), false);
  });

  it('looksLikeDigest tells references with a colon (digests) from tags', () => {
    assert.ok(looksLikeDigest(`sha256:${HEX64}`));
    assert.ok(looksLikeDigest('sha256:baddigeststring'));
    assert.equal(looksLikeDigest('latest'), false);
    assert.equal(looksLikeDigest('v1.2.3-rc_1'), false);
  });
});
