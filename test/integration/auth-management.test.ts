// The admin-only management API: users, robot accounts and permissions, and who may call it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { accessOf, basic, fetchToken, tokenFor } from '../helpers/auth.js';
import { assertErrorCode } from '../helpers/oci.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

let reg: TestRegistry;
const ADMIN = basic('admin', 'admin-password');

before(async () => {
  reg = await startTestRegistry({ tokenAuth: {} });
  await reg.auth!.accounts.ensureAdmin('admin', 'admin-password');
  await reg.auth!.accounts.addUser('plain', 'plain-password');
});
after(() => reg.close());

const api = (method: 'get' | 'post' | 'patch' | 'put' | 'delete', path: string, auth = ADMIN) =>
  reg.request[method](`/api/v1${path}`).set('Authorization', auth);

describe('management API: who may call it', () => {
  it('answers 401 with a Basic challenge without credentials, and 401 to a wrong password', async () => {
    const res = await reg.request.get('/api/v1/users').expect(401);
    assertErrorCode(res, 'UNAUTHORIZED');
    assert.match(res.headers['www-authenticate']!, /^Basic realm=/);
    assertErrorCode(await api('get', '/users', basic('admin', 'not-the-password')).expect(401), 'UNAUTHORIZED');
  });

  it('answers 403 DENIED to a user who is not an administrator, by password or by token', async () => {
    assertErrorCode(await api('get', '/users', basic('plain', 'plain-password')).expect(403), 'DENIED');
    const token = await tokenFor(reg, [], ['plain', 'plain-password']);
    assertErrorCode(await api('get', '/users', `Bearer ${token}`).expect(403), 'DENIED');
  });

  it('takes an administrator by Basic or by a token Berth issued, and stops at once when admin is taken away', async () => {
    await reg.auth!.accounts.addUser('boss', 'boss-password', true);
    const token = await tokenFor(reg, [], ['boss', 'boss-password']);
    await api('get', '/users', `Bearer ${token}`).expect(200);
    await api('patch', '/users/boss').send({ admin: false }).expect(200);
    assertErrorCode(await api('get', '/users', `Bearer ${token}`).expect(403), 'DENIED');
    assertErrorCode(await api('get', '/users', 'Bearer not-a-token').expect(401), 'UNAUTHORIZED');
  });
});

describe('management API: users', () => {
  it('creates, lists, changes and deletes a user; the new user can log in with the password', async () => {
    const created = await api('post', '/users').send({ name: 'dave', password: 'dave-password' }).expect(201);
    assert.equal(created.body.name, 'dave');
    assert.equal(created.body.admin, false);
    assert.equal(created.body.secretHash, undefined);
    assert.equal(JSON.stringify(created.body).includes('scrypt'), false, 'never the hash');
    const list = (await api('get', '/users').expect(200)).body as { users: { name: string }[] };
    assert.deepEqual(list.users.map((u) => u.name).sort(), ['admin', 'boss', 'dave', 'plain'].sort());
    await fetchToken(reg, [], ['dave', 'dave-password']);

    await api('patch', '/users/dave').send({ password: 'dave-new-password' }).expect(200);
    await fetchToken(reg, [], ['dave', 'dave-password'], 401);
    await fetchToken(reg, [], ['dave', 'dave-new-password']);

    await api('delete', '/users/dave').expect(204);
    await fetchToken(reg, [], ['dave', 'dave-new-password'], 401);
    assertErrorCode(await api('delete', '/users/dave').expect(404), 'NOT_FOUND');
  });

  it('refuses bad input with 400 REQUEST_INVALID and a duplicate with 409 CONFLICT', async () => {
    const bad: unknown[] = [
      { name: 'Eve!', password: 'long-enough' },
      { name: 'eve', password: 'short' },
      { name: 'anonymous', password: 'long-enough' },
      { name: 'eve' },
      { name: 'eve', password: 'long-enough', extra: true },
      { name: 'eve', password: 'long-enough', admin: 'yes' },
    ];
    for (const body of bad) assertErrorCode(await api('post', '/users').send(body as object).expect(400), 'REQUEST_INVALID');
    assertErrorCode(await api('post', '/users').set('Content-Type', 'application/json').send('{not json').expect(400), 'REQUEST_INVALID');
    assertErrorCode(await api('post', '/users').type('form').send('name=eve&password=long-enough').expect(400), 'REQUEST_INVALID');
    assertErrorCode(await api('post', '/users').send({ name: 'plain', password: 'long-enough' }).expect(409), 'CONFLICT');
    assertErrorCode(await api('patch', '/users/nobody').send({ password: 'long-enough' }).expect(404), 'NOT_FOUND');
    assertErrorCode(await api('patch', '/users/plain').send({}).expect(400), 'REQUEST_INVALID');
    assertErrorCode(await api('delete', '/users/admin').expect(400), 'REQUEST_INVALID');
  });
});

describe('management API: robots and permissions', () => {
  it('creates a robot with permissions; the secret is shown once and works for docker-style logins', async () => {
    const res = await api('post', '/robots')
      .send({ name: 'deployer', description: 'CI deploys', expiresIn: '30d', permissions: [{ repository: 'apps/*', actions: ['pull', 'push'] }] })
      .expect(201);
    const secret = res.body.secret as string;
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(Date.parse(res.body.expiresAt) > Date.now() + 29 * 86_400_000);
    const list = (await api('get', '/robots').expect(200)).body as { robots: Record<string, unknown>[] };
    assert.equal(list.robots.length, 1);
    assert.equal(list.robots[0]!.secret, undefined);
    assert.deepEqual(accessOf(await tokenFor(reg, ['repository:apps/web:push,delete'], ['deployer', secret])), [
      { type: 'repository', name: 'apps/web', actions: ['push'] },
    ]);
    await api('delete', '/robots/deployer').expect(204);
    await fetchToken(reg, [], ['deployer', secret], 401);
    assertErrorCode(await api('delete', '/robots/deployer').expect(404), 'NOT_FOUND');
    assertErrorCode(await api('delete', '/robots/plain').expect(404), 'NOT_FOUND');
  });

  it('refuses a robot with bad permissions, a past expiry, or both expiry forms', async () => {
    const bad: object[] = [
      { name: 'r1', permissions: [{ repository: 'Bad/*', actions: ['pull'] }] },
      { name: 'r1', permissions: [{ repository: 'ok/*', actions: ['fly'] }] },
      { name: 'r1', permissions: [{ repository: 'ok/*', actions: [] }] },
      { name: 'r1', expiresAt: '2001-01-01T00:00:00Z' },
      { name: 'r1', expiresIn: 'soon' },
      { name: 'r1', expiresIn: '1d', expiresAt: '2099-01-01T00:00:00Z' },
    ];
    for (const body of bad) assertErrorCode(await api('post', '/robots').send(body).expect(400), 'REQUEST_INVALID');
    assert.equal(((await api('get', '/robots').expect(200)).body as { robots: unknown[] }).robots.length, 0, 'nothing half-created');
  });

  it('sets, lists and deletes permissions, anonymous pull included; anonymous may never push', async () => {
    const set = await api('put', '/permissions').send({ account: 'plain', repository: 'plain/*', actions: ['pull', 'push'] }).expect(200);
    assert.deepEqual(accessOf(await tokenFor(reg, ['repository:plain/x:push'], ['plain', 'plain-password'])), [{ type: 'repository', name: 'plain/x', actions: ['push'] }]);
    // Setting the same pattern again replaces the actions.
    await api('put', '/permissions').send({ account: 'plain', repository: 'plain/*', actions: ['pull'] }).expect(200);
    assert.deepEqual(accessOf(await tokenFor(reg, ['repository:plain/x:push'], ['plain', 'plain-password'])), []);

    const anon = await api('put', '/permissions').send({ account: null, repository: 'library/*', actions: ['pull'] }).expect(200);
    assert.deepEqual(accessOf(await tokenFor(reg, ['repository:library/debian:pull'])), [{ type: 'repository', name: 'library/debian', actions: ['pull'] }]);
    assertErrorCode(await api('put', '/permissions').send({ account: null, repository: 'library/*', actions: ['pull', 'push'] }).expect(400), 'REQUEST_INVALID');
    assertErrorCode(await api('put', '/permissions').send({ account: 'ghost', repository: 'x', actions: ['pull'] }).expect(404), 'NOT_FOUND');
    assertErrorCode(await api('put', '/permissions').send({ account: 'plain', repository: 'x/**', actions: ['pull'] }).expect(400), 'REQUEST_INVALID');

    const list = (await api('get', '/permissions').expect(200)).body as { permissions: { id: number; account: string | null; repository: string }[] };
    assert.ok(list.permissions.some((p) => p.id === set.body.id && p.account === 'plain' && p.repository === 'plain/*'));
    assert.ok(list.permissions.some((p) => p.id === anon.body.id && p.account === null));
    await api('delete', `/permissions/${anon.body.id}`).expect(204);
    assert.deepEqual(accessOf(await tokenFor(reg, ['repository:library/debian:pull'])), []);
    assertErrorCode(await api('delete', `/permissions/${anon.body.id}`).expect(404), 'NOT_FOUND');
    assertErrorCode(await api('delete', '/permissions/abc').expect(404), 'NOT_FOUND');
  });
});
