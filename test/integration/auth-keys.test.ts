// Signing keys in PostgreSQL: generated once and shared by replicas, or given by configuration;
// a rotation keeps tokens signed with the previous key valid and published in the JWKS.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { KeyConfigError, SigningKeys } from '../../src/auth/keys.js';
import { LocalTokenVerifier, TokenError, TokenIssuer } from '../../src/auth/tokens.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const SETTINGS = { issuer: 'berth', service: 'berth', accessTtlS: 300, refreshTtlS: 600 };
const USER = { subject: 'alice', kind: 'user' } as const;

describe('signing keys', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db.drop());

  const keysWith = (options: Partial<ConstructorParameters<typeof SigningKeys>[1]> = {}) =>
    new SigningKeys(db.pool, { algorithm: 'ES256', graceMs: 660_000, ...options });

  it('generates one key on first start and shares it between replicas (concurrent starts agree)', async () => {
    const [a, b] = [keysWith(), keysWith()];
    await Promise.all([a.init(), b.init()]);
    assert.equal((await a.current()).kid, (await b.current()).kid);
    const token = (await new TokenIssuer(a, SETTINGS).access(USER, [])).token;
    await new LocalTokenVerifier(b, SETTINGS).verifyAccess(token);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM signing_keys WHERE retired_at IS NULL');
    assert.equal(rows[0].n, 1);
  });

  it('rotates: new tokens use the new key, old ones stay valid, the JWKS lists both', async () => {
    const keys = keysWith();
    await keys.init();
    const before = await keys.current();
    const oldToken = (await new TokenIssuer(keys, SETTINGS).access(USER, [])).token;
    const kid = await keys.rotate();
    assert.notEqual(kid, before.kid);
    const replica = keysWith();
    await replica.init();
    assert.equal((await replica.current()).kid, kid, 'a replica starting later signs with the new key');
    await new LocalTokenVerifier(replica, SETTINGS).verifyAccess(oldToken);
    const kids = (await replica.jwks()).keys.map((k) => k.kid);
    assert.ok(kids.includes(kid) && kids.includes(before.kid));
  });

  it('forgets a retired key once every token it signed has expired', async () => {
    const keys = keysWith();
    await keys.init();
    const oldToken = (await new TokenIssuer(keys, SETTINGS).access(USER, [])).token;
    await keys.rotate();
    await db.pool.query("UPDATE signing_keys SET retired_at = now() - interval '1 hour' WHERE retired_at IS NOT NULL");
    const fresh = keysWith();
    await fresh.init();
    await assert.rejects(new LocalTokenVerifier(fresh, SETTINGS).verifyAccess(oldToken), TokenError);
  });

  it('switches to a newly configured algorithm with a new key', async () => {
    const keys = keysWith({ algorithm: 'RS256' });
    await keys.init();
    assert.equal((await keys.current()).algorithm, 'RS256');
    const token = (await new TokenIssuer(keys, SETTINGS).access(USER, [])).token;
    assert.equal(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).alg, 'RS256');
  });

  it('uses a key from configuration (BERTH_TOKEN_KEY) and publishes only its public half', async () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const [a, b] = [keysWith({ algorithm: 'EdDSA', privateKeyPem: pem }), keysWith({ algorithm: 'EdDSA', privateKeyPem: pem })];
    await a.init();
    await b.init();
    assert.equal((await a.current()).kid, (await b.current()).kid);
    const token = (await new TokenIssuer(a, SETTINGS).access(USER, [])).token;
    await new LocalTokenVerifier(b, SETTINGS).verifyAccess(token);
    const { rows } = await db.pool.query('SELECT private_pem FROM signing_keys WHERE kid = $1', [(await a.current()).kid]);
    assert.equal(rows[0].private_pem, null, 'a configured private key is never stored');
    await assert.rejects(a.rotate(), KeyConfigError);
  });

  it('refuses a configured key that does not fit the algorithm', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await assert.rejects(keysWith({ algorithm: 'ES256', privateKeyPem: rsa }).init(), KeyConfigError);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' }).toString();
    const keys = keysWith({ algorithm: 'ES256', privateKeyPem: ec });
    await keys.init();
    assert.equal((await keys.current()).algorithm, 'ES256', 'a SEC1 "EC PRIVATE KEY" PEM is fine too');
  });
});
