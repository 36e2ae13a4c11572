// Sizes read from settings and written back in messages: what BERTH_QUOTAS accepts, what a quota
// refusal and `berth du` print.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { humanSize, parseByteSize } from '../../../src/registry/byte-size.js';

describe('parseByteSize', () => {
  it('reads decimal and binary units, and plain byte counts', () => {
    assert.equal(parseByteSize('10GiB'), 10 * 1024 ** 3);
    assert.equal(parseByteSize('500MB'), 500e6);
    assert.equal(parseByteSize(' 1.5 kib '), 1536);
    assert.equal(parseByteSize('1048576'), 1048576);
    assert.equal(parseByteSize(4096), 4096);
  });

  it('refuses what is not a size', () => {
    for (const bad of ['', 'ten', '10XB', '-1', '1e9', '10 GiB extra']) assert.equal(parseByteSize(bad), undefined, bad);
    for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1]) assert.equal(parseByteSize(bad), undefined, String(bad));
  });
});

describe('humanSize', () => {
  it('writes bytes under 1 KiB as they are and larger sizes in binary units with one decimal', () => {
    assert.equal(humanSize(0), '0 B');
    assert.equal(humanSize(1023), '1023 B');
    assert.equal(humanSize(1536), '1.5 KiB');
    assert.equal(humanSize(10 * 1024 ** 3), '10.0 GiB');
    assert.equal(humanSize(3 * 1024 ** 5), '3072.0 TiB');
  });

  it('reads back what parseByteSize reads, to the decimal it prints', () => {
    assert.equal(parseByteSize(humanSize(5 * 1024 ** 2).replace(' ', '')), 5 * 1024 ** 2);
  });
});
