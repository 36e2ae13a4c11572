// BERTH_AUTH=token through the HTTP API: challenges, the token endpoint (GET with Basic, POST with
// the OAuth2 form), intersection of scopes and permissions, 401 vs 403, refresh tokens, robots,
// cross-repository mounts, and the actor recorded in tag history.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { accessOf, basic, bearerChallenge, fetchToken, tokenFor, withToken, type TokenResponse } from '../helpers/auth.js';
import { tagEvents } from '../helpers/manifests.js';
import { assertErrorCode, pushBlob, pushImage, randomBlob, sha256 } from '../helpers/oci.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

let reg: TestRegistry;
const ALICE: [string, string] = ['alice', 'alice-password'];
const BOB: [string, string] = ['bob', 'bob-password'];
const ROOT: [string, string] = ['root', 'root-password'];
let robotSecret: string;

before(async () => {
  reg = await startTestRegistry({ tokenAuth: {} });
  const accounts = reg.auth!.accounts;
  await accounts.addUser(...ALICE);
  await accounts.grant('alice', { pattern: 'team/*', actions: ['pull', 'push'] });
  await accounts.addUser(...BOB);
  await accounts.grant('bob', { pattern: 'team/app', actions: ['pull'] });
  await accounts.addUser(ROOT[0], ROOT[1], true);
  await accounts.grant(null, { pattern: 'public/*', actions: ['pull'] });
  robotSecret = (await accounts.addRobot('ci', { grants: [{ pattern: 'team/*', actions: ['pull', 'push'] }] })).secret;
});
after(() => reg.close());

const FORM = 'application/x-www-form-urlencoded';

describe('challenges on /v2 (BERTH_AUTH=token)', () => {
  it('answers /v2/ without a token 401 UNAUTHORIZED with an absolute realm and the service', async () => {
    const res = await reg.request.get('/v2/').expect(401);
    assertErrorCode(res, 'UNAUTHORIZED');
    const challenge = bearerChallenge(res);
    assert.match(challenge.realm!, /^http:\/\/127\.0\.0\.1:\d+\/token$/);
    assert.equal(challenge.service, 'berth-test-registry');
    assert.equal(challenge.scope, undefined);
    assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
  });

  it('names the scope a request needs: pull for reads, pull,push for uploads, delete, the catalog', async () => {
    const cases: [string, string, string][] = [
      ['get', '/v2/team/app/tags/list', 'repository:team/app:pull'],
      ['head', `/v2/team/app/manifests/latest`, 'repository:team/app:pull'],
      ['post', '/v2/team/app/blobs/uploads/', 'repository:team/app:pull,push'],
      ['put', '/v2/team/app/manifests/latest', 'repository:team/app:pull,push'],
      ['delete', `/v2/team/app/manifests/sha256:${'a'.repeat(64)}`, 'repository:team/app:delete'],
      ['get', '/v2/_catalog', 'registry:catalog:*'],
    ];
    for (const [method, path, scope] of cases) {
      const res = await (reg.request as unknown as Record<string, (p: string) => import('supertest').Test>)[method]!(path).expect(401);
      assert.equal(bearerChallenge(res).scope, scope, `${method} ${path}`);
    }
  });

  it('builds the realm from BERTH_PUBLIC_URL when set, and from X-Forwarded-* only behind a trusted proxy', async () => {
    const pub = await startTestRegistry({ tokenAuth: {}, publicUrl: 'https://registry.example.com' });
    const proxied = await startTestRegistry({ tokenAuth: {}, trustProxy: true });
    try {
      assert.equal(bearerChallenge(await pub.request.get('/v2/').expect(401)).realm, 'https://registry.example.com/token');
      const fwd = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'hub.example.org' };
      assert.equal(bearerChallenge(await proxied.request.get('/v2/').set(fwd).expect(401)).realm, 'https://hub.example.org/token');
      assert.match(bearerChallenge(await reg.request.get('/v2/').set(fwd).expect(401)).realm!, /^http:\/\/127\.0\.0\.1:\d+\/token$/);
    } finally {
      await pub.close();
      await proxied.close();
    }
  });

  it('answers a malformed or forged bearer token 401 with error="invalid_token"', async () => {
    for (const token of ['garbage', 'a.b.c', `${Buffer.from('{"alg":"none"}').toString('base64url')}.e30.`]) {
      const res = await withToken(reg, token).get('/v2/team/app/tags/list').expect(401);
      assertErrorCode(res, 'UNAUTHORIZED');
      const challenge = bearerChallenge(res);
      assert.equal(challenge.error, 'invalid_token');
      assert.equal(challenge.scope, 'repository:team/app:pull');
    }
  });

  it('refuses HTTP Basic on /v2 itself: clients must fetch a token', async () => {
    const res = await reg.request.get('/v2/team/app/tags/list').set('Authorization', basic(...ALICE)).expect(401);
    assert.equal(bearerChallenge(res).scope, 'repository:team/app:pull');
  });
});

describe('GET /token', () => {
  it('issues a token with token, access_token, expires_in ≥ 60 and issued_at, verifiable with the JWKS', async () => {
    const res = await fetchToken(reg, ['repository:team/app:pull,push'], ALICE);
    const body = res.body as TokenResponse;
    assert.equal(body.token, body.access_token);
    assert.ok(body.expires_in >= 60);
    assert.ok(Math.abs(Date.parse(body.issued_at) - Date.now()) < 5000);
    assert.equal(body.refresh_token, undefined, 'no refresh token unless asked for');
    assert.equal(res.headers['cache-control'], 'no-store');
    const jwks = (await reg.request.get('/.well-known/jwks.json').expect(200).expect('Content-Type', /json/)).body as { keys: { kid: string; d?: string }[] };
    assert.ok(jwks.keys.length >= 1);
    assert.ok(jwks.keys.every((k) => k.d === undefined), 'the JWKS must not contain private key material');
    const { payload, protectedHeader } = await jwtVerify(body.token, createLocalJWKSet(jwks as never), { issuer: 'berth-test', audience: 'berth-test-registry' });
    assert.ok(jwks.keys.some((k) => k.kid === protectedHeader.kid));
    assert.equal(payload.sub, 'alice');
    assert.deepEqual(payload.access, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
  });

  it('grants the intersection of what was asked and what the account may do', async () => {
    const token = await tokenFor(reg, ['repository:team/app:pull,push,delete', 'repository:other/app:pull', 'registry:catalog:*', 'repository:public/base:pull'], ALICE);
    assert.deepEqual(accessOf(token), [
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'public/base', actions: ['pull'] },
    ]);
    assert.deepEqual(accessOf(await tokenFor(reg, ['repository:team/app:pull,push'], BOB)), [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
  });

  it('gives anonymous requests only what anonymous may do (pull on public/*)', async () => {
    const token = await tokenFor(reg, ['repository:public/base:pull,push', 'repository:team/app:pull']);
    assert.deepEqual(accessOf(token), [{ type: 'repository', name: 'public/base', actions: ['pull'] }]);
  });

  it('answers wrong credentials 401 with a clear message (also in `details`, which the docker CLI shows)', async () => {
    for (const credentials of [['alice', 'wrong-password'], ['nobody', 'whatever-pw'], ['alice', '']] as [string, string][]) {
      const res = await fetchToken(reg, ['repository:team/app:pull'], credentials, 401);
      assertErrorCode(res, 'UNAUTHORIZED');
      assert.equal((res.body as { details: string }).details, 'incorrect username or password');
      assert.equal(res.body.token, undefined);
    }
  });

  it('answers malformed input 400 REQUEST_INVALID: bad scope, other service, broken Basic header', async () => {
    assertErrorCode(await reg.request.get('/token?scope=repository:team/app').expect(400), 'REQUEST_INVALID');
    assertErrorCode(await reg.request.get('/token?scope=repository:team/app:pull&service=elsewhere').expect(400), 'REQUEST_INVALID');
    assertErrorCode(await reg.request.get('/token').set('Authorization', 'Basic !!!').expect(400), 'REQUEST_INVALID');
    assertErrorCode(await reg.request.get('/token').set('Authorization', `Basic ${Buffer.from('no-colon').toString('base64')}`).expect(400), 'REQUEST_INVALID');
  });

  it('logs a robot in with its secret; an expired robot is refused', async () => {
    assert.deepEqual(accessOf(await tokenFor(reg, ['repository:team/app:push'], ['ci', robotSecret])), [{ type: 'repository', name: 'team/app', actions: ['push'] }]);
    // Five seconds of life: a login (scrypt) on a loaded machine must still fall inside it.
    const expiresAt = new Date(Date.now() + 5000);
    const { secret } = await reg.auth!.accounts.addRobot('short-lived', { expiresAt });
    await fetchToken(reg, [], ['short-lived', secret]);
    await new Promise((r) => setTimeout(r, expiresAt.getTime() - Date.now() + 100));
    const res = await fetchToken(reg, [], ['short-lived', secret], 401);
    assert.equal((res.body as { details: string }).details, 'account expired');
  });
});

describe('POST /token (OAuth2 form)', () => {
  const post = (form: Record<string, string>) => reg.request.post('/token').type(FORM).send(new URLSearchParams(form).toString());

  it('grant_type=password issues a token; access_type=offline adds a refresh token', async () => {
    const res = await post({ grant_type: 'password', username: 'alice', password: 'alice-password', scope: 'repository:team/a:pull repository:team/b:push', service: 'berth-test-registry', client_id: 'test', access_type: 'offline' }).expect(200);
    const body = res.body as TokenResponse;
    assert.deepEqual(accessOf(body.access_token), [
      { type: 'repository', name: 'team/a', actions: ['pull'] },
      { type: 'repository', name: 'team/b', actions: ['push'] },
    ]);
    assert.equal(body.scope, 'repository:team/a:pull repository:team/b:push');
    assert.ok(body.refresh_token);
  });

  it('grant_type=refresh_token issues new tokens until the password changes', async () => {
    await reg.auth!.accounts.addUser('carol', 'carol-password');
    await reg.auth!.accounts.grant('carol', { pattern: 'carol/*', actions: ['pull'] });
    const first = (await fetchToken(reg, [], ['carol', 'carol-password'])).body as TokenResponse;
    assert.equal(first.refresh_token, undefined);
    const offline = (await reg.request.get('/token?offline_token=true&scope=repository:carol/x:pull').set('Authorization', basic('carol', 'carol-password')).expect(200)).body as TokenResponse;
    assert.ok(offline.refresh_token);
    const refreshed = (await post({ grant_type: 'refresh_token', refresh_token: offline.refresh_token!, scope: 'repository:carol/y:pull', client_id: 'test' }).expect(200)).body as TokenResponse;
    assert.deepEqual(accessOf(refreshed.token), [{ type: 'repository', name: 'carol/y', actions: ['pull'] }]);
    assert.equal(refreshed.refresh_token, offline.refresh_token);

    await reg.auth!.accounts.setPassword('carol', 'carol-new-password');
    const res = await post({ grant_type: 'refresh_token', refresh_token: offline.refresh_token!, client_id: 'test' }).expect(401);
    assertErrorCode(res, 'UNAUTHORIZED');
    // An access token is not a refresh token.
    await post({ grant_type: 'refresh_token', refresh_token: refreshed.token, client_id: 'test' }).expect(401);
  });

  it('answers 401 to a wrong password and 400 to an unknown grant, missing fields or a JSON body', async () => {
    assertErrorCode(await post({ grant_type: 'password', username: 'alice', password: 'nope-nope' }).expect(401), 'UNAUTHORIZED');
    assertErrorCode(await post({ grant_type: 'authorization_code', code: 'x' }).expect(400), 'REQUEST_INVALID');
    assertErrorCode(await post({ grant_type: 'password', username: 'alice' }).expect(400), 'REQUEST_INVALID');
    assertErrorCode(await post({ grant_type: 'refresh_token' }).expect(400), 'REQUEST_INVALID');
    assertErrorCode(await reg.request.post('/token').send({ grant_type: 'password' }).expect(400), 'REQUEST_INVALID');
  });
});

describe('what a token allows on /v2', () => {
  it('lets a user push and pull where permitted, recording the user as the actor of the tag change', async () => {
    const agent = withToken(reg, await tokenFor(reg, ['repository:team/app:pull,push'], ALICE));
    const image = await pushImage(agent, 'team/app', 'v1');
    await agent.get('/v2/team/app/manifests/v1').set('Accept', 'application/vnd.oci.image.manifest.v1+json').expect(200);
    const events = await tagEvents(reg, 'team/app', 'v1');
    assert.equal(events.at(-1)?.actor, 'alice');
    assert.equal(events.at(-1)?.digest, image.digest);
    const bob = withToken(reg, await tokenFor(reg, ['repository:team/app:pull'], BOB));
    await bob.get('/v2/team/app/tags/list').expect(200);
  });

  it('does not accept a token for repository A on repository B', async () => {
    const agent = withToken(reg, await tokenFor(reg, ['repository:team/a:pull,push'], ALICE));
    await agent.get('/v2/team/a/tags/list').expect((r) => assert.notEqual(r.status, 401));
    const res = await agent.get('/v2/team/b/tags/list').expect(401);
    const challenge = bearerChallenge(res);
    assert.equal(challenge.error, 'insufficient_scope');
    assert.equal(challenge.scope, 'repository:team/b:pull');
  });

  it('answers 401 insufficient_scope when the account could have the scope, 403 DENIED when it never could', async () => {
    const pullOnly = withToken(reg, await tokenFor(reg, ['repository:team/app:pull'], ALICE));
    const res = await pullOnly.post('/v2/team/app/blobs/uploads/').expect(401);
    assert.equal(bearerChallenge(res).scope, 'repository:team/app:pull,push');
    assert.equal(bearerChallenge(res).error, 'insufficient_scope');

    const bob = withToken(reg, await tokenFor(reg, ['repository:team/app:pull,push'], BOB));
    const denied = await bob.post('/v2/team/app/blobs/uploads/').expect(403);
    assertErrorCode(denied, 'DENIED');
    assert.equal(
      (denied.body as { errors: { message: string }[] }).errors[0]!.message,
      'requested access to the resource is denied: bob may not push to repository team/app (an administrator can grant it with `berth permission grant`)',
    );
    assert.equal(denied.headers['www-authenticate'], undefined);
    assertErrorCode(await bob.delete(`/v2/team/app/manifests/sha256:${'a'.repeat(64)}`).expect(403), 'DENIED');
    assertErrorCode(await bob.get('/v2/_catalog').expect(403), 'DENIED');
  });

  it('tells an anonymous push to authenticate (a plain 401 challenge, never DENIED), while anonymous pull works where granted', async () => {
    const admin = withToken(reg, await tokenFor(reg, ['repository:public/base:pull,push'], ROOT));
    await pushImage(admin, 'public/base', 'latest');
    const anon = withToken(reg, await tokenFor(reg, ['repository:public/base:pull,push']));
    await anon.get('/v2/public/base/tags/list').expect(200);
    const push = await anon.post('/v2/public/base/blobs/uploads/').expect(401);
    assertErrorCode(push, 'UNAUTHORIZED');
    assert.equal(bearerChallenge(push).error, undefined, 'docker would print "denied" for insufficient_scope');
    assert.equal(bearerChallenge(push).scope, 'repository:public/base:pull,push');
    assert.equal((push.body as { errors: { message: string }[] }).errors[0]!.message, 'authentication required');
    const pull = await anon.get('/v2/team/app/tags/list').expect(401);
    assertErrorCode(pull, 'UNAUTHORIZED');
    assert.equal(bearerChallenge(pull).scope, 'repository:team/app:pull');
  });

  it('lets an administrator use the catalog', async () => {
    const root = withToken(reg, await tokenFor(reg, ['registry:catalog:*'], ROOT));
    const res = await root.get('/v2/_catalog').expect(200);
    assert.ok((res.body as { repositories: string[] }).repositories.includes('team/app'));
  });

  it('takes any valid token on /v2/, anonymous included', async () => {
    await withToken(reg, await tokenFor(reg, [])).get('/v2/').expect(200);
    await withToken(reg, await tokenFor(reg, [], ['ci', robotSecret])).get('/v2/').expect(200);
  });
});

describe('cross-repository mount under token auth', () => {
  let secretDigest: string;
  before(async () => {
    const root = withToken(reg, await tokenFor(reg, ['repository:vault/secret:pull,push', 'repository:team/src:pull,push'], ROOT));
    secretDigest = await pushBlob(root, 'vault/secret', randomBlob(256));
    await pushBlob(root, 'team/src', randomBlob(10));
  });

  it('mounts from a repository the token may pull (201)', async () => {
    const root = withToken(reg, await tokenFor(reg, ['repository:team/src:pull,push'], ROOT));
    const digest = await pushBlob(root, 'team/src', randomBlob(300));
    const alice = withToken(reg, await tokenFor(reg, ['repository:team/dst:pull,push', 'repository:team/src:pull'], ALICE));
    await alice.post(`/v2/team/dst/blobs/uploads/?mount=${digest}&from=team/src`).expect(201);
    await alice.head(`/v2/team/dst/blobs/${digest}`).expect(200);
  });

  it('falls back to an upload session (202) when the token may not pull from=, and links nothing', async () => {
    const alice = withToken(reg, await tokenFor(reg, ['repository:team/dst2:pull,push', 'repository:vault/secret:pull'], ALICE));
    assert.deepEqual(accessOf(await tokenFor(reg, ['repository:vault/secret:pull'], ALICE)), []);
    const res = await alice.post(`/v2/team/dst2/blobs/uploads/?mount=${secretDigest}&from=vault/secret`).expect(202);
    assert.ok(res.headers.location);
    await alice.head(`/v2/team/dst2/blobs/${secretDigest}`).expect(404);
  });

  it('mounts without from= only from repositories the token may pull', async () => {
    const alice = withToken(reg, await tokenFor(reg, ['repository:team/dst3:pull,push'], ALICE));
    await alice.post(`/v2/team/dst3/blobs/uploads/?mount=${secretDigest}`).expect(202);
    await alice.head(`/v2/team/dst3/blobs/${secretDigest}`).expect(404);

    const root = withToken(reg, await tokenFor(reg, ['repository:team/src:pull,push'], ROOT));
    const shared = randomBlob(128);
    await pushBlob(root, 'team/src', shared);
    const withSource = withToken(reg, await tokenFor(reg, ['repository:team/dst3:pull,push', 'repository:team/src:pull'], ALICE));
    await withSource.post(`/v2/team/dst3/blobs/uploads/?mount=${sha256(shared)}`).expect(201);
  });
});

describe('auth failures on /metrics (BERTH_AUTH=token)', () => {
  async function failures(): Promise<Record<string, number>> {
    const text = (await reg.request.get('/metrics').expect(200)).text;
    const counts: Record<string, number> = {};
    for (const m of text.matchAll(/^berth_auth_failures_total\{reason="(\w+)"\} (\d+)/gm)) counts[m[1]!] = Number(m[2]);
    return counts;
  }

  it('counts a missing token, a forged one, missing scope and wrong credentials, each by reason', async () => {
    const before = await failures();
    await reg.request.get('/v2/team/app/tags/list').expect(401);
    await reg.request.get('/v2/team/app/tags/list').set('Authorization', 'Bearer not.a.token').expect(401);
    await reg.request.get('/token').query({ scope: 'repository:team/app:pull' }).auth('alice', 'wrong password').expect(401);
    const after = await failures();
    const grew = (reason: string) => (after[reason] ?? 0) - (before[reason] ?? 0);
    assert.equal(grew('missing_credentials'), 1);
    assert.equal(grew('invalid_token'), 1);
    assert.equal(grew('bad_credentials'), 1);
  });
});
