// Which Berth the client commands talk to when nobody says: the server's own settings from the
// same environment, so that `berth history` on the registry's machine finds it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveRegistry } from '../../../src/client/registry-address.js';
import { UsageError } from '../../../src/usage-error.js';

const href = (flag: string | undefined, env: NodeJS.ProcessEnv) => {
  const r = resolveRegistry(flag, env);
  return `${r.url.origin} (${r.source})`;
};

describe('the registry address of the client commands', () => {
  it('prefers --registry, then BERTH_REGISTRY, BERTH_PUBLIC_URL, BERTH_ADDR, then the default', () => {
    const all = { BERTH_REGISTRY: 'http://127.0.0.1:6001', BERTH_PUBLIC_URL: 'https://registry.example.com', BERTH_ADDR: '127.0.0.1:6003' };
    assert.equal(href('http://127.0.0.1:6000', all), 'http://127.0.0.1:6000 (--registry)');
    assert.equal(href(undefined, all), 'http://127.0.0.1:6001 (BERTH_REGISTRY)');
    assert.equal(href(undefined, { ...all, BERTH_REGISTRY: undefined }), 'https://registry.example.com (BERTH_PUBLIC_URL)');
    assert.equal(href(undefined, { BERTH_ADDR: '127.0.0.1:6003' }), 'http://127.0.0.1:6003 (BERTH_ADDR)');
    assert.equal(href(undefined, {}), 'http://127.0.0.1:5000 (the default)');
  });

  it('reaches a server listening on every address through loopback', () => {
    assert.equal(href(undefined, { BERTH_ADDR: '0.0.0.0:5001' }), 'http://127.0.0.1:5001 (BERTH_ADDR)');
    assert.equal(href(undefined, { BERTH_ADDR: ':5002' }), 'http://127.0.0.1:5002 (BERTH_ADDR)');
    assert.equal(href(undefined, { BERTH_ADDR: '[::]:5003' }), 'http://[::1]:5003 (BERTH_ADDR)');
    assert.equal(href(undefined, { BERTH_ADDR: '[::1]:5004' }), 'http://[::1]:5004 (BERTH_ADDR)');
    assert.equal(href(undefined, { BERTH_ADDR: '10.0.0.5:5005' }), 'https://10.0.0.5:5005 (BERTH_ADDR)');
  });

  it('takes host:port without a scheme: http on loopback, https elsewhere', () => {
    assert.equal(href('localhost:5000', {}), 'http://localhost:5000 (--registry)');
    assert.equal(href('registry.example.com', {}), 'https://registry.example.com (--registry)');
  });

  it('refuses an address that is not one, naming where it came from', () => {
    assert.throws(() => resolveRegistry('http://', {}), (e: Error) => e instanceof UsageError && /^--registry must be a URL/.test(e.message));
    assert.throws(() => resolveRegistry(undefined, { BERTH_ADDR: 'nonsense' }), /BERTH_ADDR must be host:port, got "nonsense"/);
  });
});
