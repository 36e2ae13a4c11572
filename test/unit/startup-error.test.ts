import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StartupError, unexpectedErrorText } from '../../src/startup-error.js';

describe('unexpectedErrorText (what the CLI prints for a failure)', () => {
  it('never prints "undefined" for a rejection without a reason', () => {
    const text = unexpectedErrorText(undefined, false, {});
    assert.doesNotMatch(text, /undefined/);
    assert.match(text, /LOG_LEVEL=debug/);
  });
  it('a known error is its message; an unknown one its message on one line, the stack only with LOG_LEVEL=debug', () => {
    assert.equal(unexpectedErrorText(new StartupError('BERTH_ADDR=x: in use'), true, {}), 'BERTH_ADDR=x: in use');
    const err = new Error('boom');
    assert.equal(unexpectedErrorText(err, false, {}), 'boom (set LOG_LEVEL=debug for details)');
    assert.match(unexpectedErrorText(err, false, { LOG_LEVEL: 'debug' }), /^Error: boom\n\s+at /);
  });
});
