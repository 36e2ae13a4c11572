// The upstream's WWW-Authenticate challenge as the pull-through client reads it (Docker token
// auth): quoted and bare values, escapes, commas inside quotes, and malformed input.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChallengeParams } from '../../../src/proxy/upstream-client.js';

describe('parseChallengeParams', () => {
  it("reads Docker Hub's challenge", () => {
    assert.deepEqual(parseChallengeParams('realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'), {
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scope: 'repository:library/alpine:pull',
    });
  });

  it('takes commas inside quotes, escaped quotes, bare values, spaces and any case of names', () => {
    assert.deepEqual(parseChallengeParams('Realm = "https://r.example/t?a=1,b=2" , service=reg, scope="repository:a/b:pull,push", error="say \\"hi\\""'), {
      realm: 'https://r.example/t?a=1,b=2',
      service: 'reg',
      scope: 'repository:a/b:pull,push',
      error: 'say "hi"',
    });
  });

  it('gives nothing for malformed input rather than throwing', () => {
    assert.deepEqual(parseChallengeParams(''), {});
    assert.deepEqual(parseChallengeParams('garbage without equals'), {});
    // An unterminated quote is read as a bare value; the client then refuses it as no URL.
    assert.equal(parseChallengeParams('realm="unterminated').realm, '"unterminated');
  });
});
