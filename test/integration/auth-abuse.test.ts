// Abuse: failed logins are rate-limited per account and per client address (429 TOOMANYREQUESTS
// with Retry-After), and no secret ever reaches the logs.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { basic, fetchToken, tokenFor, withToken, type TokenResponse } from '../helpers/auth.js';
import { assertErrorCode, pushImage } from '../helpers/oci.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';
import { createLogger } from '../../src/logger.js';

describe('login rate limiting', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry({ tokenAuth: { loginLimits: { maxPerAccount: 3, maxPerAddress: 6, windowMs: 60_000 } }, trustProxy: true });
    await reg.auth!.accounts.addUser('alice', 'alice-password');
    await reg.auth!.accounts.addUser('bob', 'bob-password');
    await reg.auth!.accounts.addUser('carol', 'carol-password');
    await reg.auth!.accounts.addUser('root', 'root-password', true);
  });
  after(() => reg.close());

  const from = (address: string, user: string, password: string) =>
    reg.request.get('/token').set('X-Forwarded-For', address).set('Authorization', basic(user, password));

  it('refuses an account after 3 failures with 429 TOOMANYREQUESTS and Retry-After, even with the right password', async () => {
    for (let i = 0; i < 3; i++) await from('10.0.0.1', 'alice', 'wrong-password').expect(401);
    const res = await from('10.0.0.2', 'alice', 'alice-password').expect(429);
    assertErrorCode(res, 'TOOMANYREQUESTS');
    const retryAfter = Number(res.headers['retry-after']);
    assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After: ${res.headers['retry-after']}`);
    // Other accounts from other addresses are not affected.
    await from('10.0.0.3', 'bob', 'bob-password').expect(200);
    // The OAuth2 form is limited the same way.
    const post = await reg.request.post('/token').set('X-Forwarded-For', '10.0.0.4').type('form')
      .send('grant_type=password&username=alice&password=alice-password').expect(429);
    assertErrorCode(post, 'TOOMANYREQUESTS');
  });

  it('refuses an address guessing many accounts after 6 failures', async () => {
    for (let i = 0; i < 6; i++) await from('10.9.9.9', `guess${i}`, 'wrong-password').expect(401);
    assertErrorCode(await from('10.9.9.9', 'bob', 'bob-password').expect(429), 'TOOMANYREQUESTS');
    await from('10.9.9.8', 'bob', 'bob-password').expect(200);
  });

  const clear = (body: unknown, user = 'root', password = 'root-password') =>
    reg.request.post('/api/v1/login-lockouts/clear').set('X-Forwarded-For', '10.5.5.5').set('Authorization', basic(user, password)).send(body as object);

  it('lets an administrator lift an account\'s or an address\'s lockout (POST /api/v1/login-lockouts/clear)', async () => {
    for (let i = 0; i < 3; i++) await from('10.1.1.1', 'carol', 'wrong-password').expect(401);
    await from('10.1.1.2', 'carol', 'carol-password').expect(429);
    await clear({ account: 'carol' }).expect(204);
    await from('10.1.1.2', 'carol', 'carol-password').expect(200);
    // A clearance lifts the failures before it, not the ones after it.
    for (let i = 0; i < 3; i++) await from('10.1.1.3', 'carol', 'wrong-password').expect(401);
    await from('10.1.1.2', 'carol', 'carol-password').expect(429);

    for (let i = 0; i < 6; i++) await from('10.2.2.2', `spray${i}`, 'wrong-password').expect(401);
    await from('10.2.2.2', 'bob', 'bob-password').expect(429);
    await clear({ address: '10.2.2.2' }).expect(204);
    await from('10.2.2.2', 'bob', 'bob-password').expect(200);
  });

  it('refuses a clearance that names nothing, no account, no address, or comes from a non-administrator', async () => {
    assertErrorCode(await clear({}).expect(400), 'REQUEST_INVALID');
    assertErrorCode(await clear({ account: 'nobody' }).expect(404), 'NOT_FOUND');
    assertErrorCode(await clear({ address: 'not-an-address' }).expect(400), 'REQUEST_INVALID');
    assertErrorCode(await clear({ account: 'carol', extra: 1 }).expect(400), 'REQUEST_INVALID');
    assertErrorCode(await clear({ account: 'carol' }, 'bob', 'bob-password').expect(403), 'DENIED');
  });

  it('limits the management API logins too', async () => {
    for (let i = 0; i < 6; i++) await reg.request.get('/api/v1/users').set('X-Forwarded-For', '10.7.7.7').set('Authorization', basic(`m${i}`, 'wrong-password')).expect(401);
    assertErrorCode(await reg.request.get('/api/v1/users').set('X-Forwarded-For', '10.7.7.7').set('Authorization', basic('x', 'y-password')).expect(429), 'TOOMANYREQUESTS');
  });
});

describe('secrets never reach the logs', () => {
  let reg: TestRegistry;
  let logged = '';
  before(async () => {
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => (logged += chunk.toString('utf8')));
    reg = await startTestRegistry({ tokenAuth: {}, logStream: stream });
  });
  after(() => reg.close());

  it('logs requests with passwords, robot secrets, access and refresh tokens without any of them', async () => {
    const password = 'Sup3r-Secret-Passw0rd';
    await reg.auth!.accounts.addUser('alice', password, true);
    const { secret } = await reg.auth!.accounts.addRobot('ci', { grants: [{ pattern: 'team/*', actions: ['pull', 'push'] }] });
    const offline = (await reg.request.get('/token?offline_token=true&scope=repository:team/app:pull,push').set('Authorization', basic('alice', password)).expect(200)).body as TokenResponse;
    await fetchToken(reg, ['repository:team/app:pull'], ['alice', `${password}-wrong`], 401);
    await reg.request.post('/token').type('form').send(new URLSearchParams({ grant_type: 'password', username: 'alice', password }).toString()).expect(200);
    await reg.request.post('/token').type('form').send(new URLSearchParams({ grant_type: 'refresh_token', refresh_token: offline.refresh_token! }).toString()).expect(200);
    const robotToken = await tokenFor(reg, ['repository:team/app:pull,push'], ['ci', secret]);
    await pushImage(withToken(reg, robotToken), 'team/app', 'v1');
    await withToken(reg, offline.token).get('/v2/team/app/tags/list').expect(200);
    await reg.request.get('/api/v1/users').set('Authorization', basic('alice', password)).expect(200);
    await reg.request.post('/api/v1/users').set('Authorization', basic('alice', password)).send({ name: 'bob', password: 'bob-Secret-pw-123' }).expect(201);
    // Requests are logged when their response ends.
    await new Promise((r) => setTimeout(r, 200));

    assert.match(logged, /"path":"\/token"/, 'the requests were logged at all');
    assert.match(logged, /"path":"\/v2\/team\/app\/tags\/list"/);
    const secrets = { password, secret, 'access token': offline.token, 'refresh token': offline.refresh_token!, 'robot token': robotToken, 'new password': 'bob-Secret-pw-123' };
    for (const [what, value] of Object.entries(secrets)) {
      assert.equal(logged.includes(value), false, `the ${what} appears in the log`);
      assert.equal(logged.includes(Buffer.from(`alice:${value}`).toString('base64')), false, `the ${what} appears Basic-encoded`);
    }
    assert.equal(/Basic [A-Za-z0-9+/=]{8,}|Bearer [\w-]+\.[\w-]+/.test(logged), false, 'an Authorization value appears in the log');
  });

  it('redacts credentials wherever a log call puts them', () => {
    let out = '';
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    const logger = createLogger('info', stream);
    logger.info({
      authorization: 'Bearer t0p.s3cr3t.jwt',
      password: 'hunter2-password',
      secret: 'robot-secret-value',
      refresh_token: 'refresh-value',
      req: { headers: { authorization: 'Basic c2VjcmV0LWJhc2lj' } },
      headers: { authorization: 'Basic aGVhZGVycy1iYXNpYw==' },
      user: { password: 'nested-password', token: 'nested-token' },
      privateKeyPem: '-----BEGIN PRIVATE KEY-----',
    }, 'credentials everywhere');
    for (const value of ['t0p.s3cr3t.jwt', 'hunter2-password', 'robot-secret-value', 'refresh-value', 'c2VjcmV0LWJhc2lj', 'aGVhZGVycy1iYXNpYw==', 'nested-password', 'nested-token', 'BEGIN PRIVATE KEY']) {
      assert.equal(out.includes(value), false, `${value} was logged`);
    }
    assert.match(out, /\[redacted\]/);
  });
});
