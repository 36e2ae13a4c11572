import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoginLimiter } from '../../../src/auth/login-limiter.js';

describe('LoginLimiter', () => {
  const limits = { maxPerAccount: 3, maxPerAddress: 5, windowMs: 60_000 };

  it('blocks an account after max failures until the window ends, then lets it try again', () => {
    let now = 1_000_000;
    const limiter = new LoginLimiter(limits, () => now);
    for (let i = 0; i < 3; i++) {
      assert.equal(limiter.retryAfter('alice', '10.0.0.1'), 0);
      limiter.recordFailure('alice', '10.0.0.1');
    }
    assert.equal(limiter.retryAfter('alice', '10.0.0.2'), 60, 'another address does not help');
    now += 30_000;
    assert.equal(limiter.retryAfter('alice', '10.0.0.1'), 30);
    assert.equal(limiter.retryAfter('bob', '10.0.0.3'), 0, 'other accounts are not affected');
    now += 30_000;
    assert.equal(limiter.retryAfter('alice', '10.0.0.1'), 0);
  });

  it('blocks an address guessing many accounts', () => {
    const limiter = new LoginLimiter(limits, () => 0);
    for (let i = 0; i < 5; i++) limiter.recordFailure(`user${i}`, '10.0.0.9');
    assert.equal(limiter.retryAfter('someone-else', '10.0.0.9'), 60);
    assert.equal(limiter.retryAfter(undefined, '10.0.0.9'), 60);
    assert.equal(limiter.retryAfter('someone-else', '10.0.0.8'), 0);
  });

  it('clears an account after a successful login, but not the address', () => {
    const limiter = new LoginLimiter({ ...limits, maxPerAddress: 4 }, () => 0);
    for (let i = 0; i < 2; i++) limiter.recordFailure('alice', '10.0.0.1');
    limiter.recordSuccess('alice');
    limiter.recordFailure('alice', '10.0.0.1');
    limiter.recordFailure('alice', '10.0.0.1');
    assert.equal(limiter.retryAfter('alice', '10.0.0.2'), 0, 'two failures since the success: below 3');
    assert.equal(limiter.retryAfter('bob', '10.0.0.1'), 60, 'the address counted all four');
  });
  it('names the counters refusing an attempt, with when their window began, and forgets a lifted one', () => {
    let now = 5_000;
    const limiter = new LoginLimiter({ ...limits, maxPerAddress: 3 }, () => now);
    limiter.recordFailure('alice', '10.0.0.1');
    now += 1_000;
    limiter.recordFailure('alice', '10.0.0.1');
    assert.deepEqual(limiter.blockers('alice', '10.0.0.1'), [], 'two failures refuse nothing yet');
    limiter.recordFailure('alice', '10.0.0.1');
    assert.deepEqual(limiter.blockers('alice', '10.0.0.1'), [
      { kind: 'account', key: 'alice', since: 5_000 },
      { kind: 'address', key: '10.0.0.1', since: 5_000 },
    ]);
    limiter.forget('account', 'alice');
    assert.equal(limiter.retryAfter('alice', '10.0.0.2'), 0, 'alice may try again from elsewhere');
    assert.equal(limiter.retryAfter('alice', '10.0.0.1'), 59, 'the address is still refused');
    limiter.forget('address', '10.0.0.1');
    assert.equal(limiter.retryAfter('alice', '10.0.0.1'), 0);
  });
});
