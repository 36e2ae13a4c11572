// Token verification: every forgery and misuse the issue lists is refused, each on its own.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { calculateJwkThumbprint, exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { ExternalIssuer } from '../../../src/auth/external-issuers.js';
import type { KeyRing, PublicKey, SigningAlgorithm, SigningKey } from '../../../src/auth/keys.js';
import { LocalTokenVerifier, TokenError, TokenIssuer } from '../../../src/auth/tokens.js';
import { TokenVerifier } from '../../../src/auth/verifier.js';

const SETTINGS = { issuer: 'berth-test', service: 'registry.test', accessTtlS: 300, refreshTtlS: 3600 };
const ACCESS = [{ type: 'repository', name: 'team/a', actions: ['pull', 'push'] }];
const USER = { subject: 'alice', kind: 'user' } as const;

interface TestKey {
  ring: KeyRing;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  kid: string;
  algorithm: SigningAlgorithm;
}

async function testKey(algorithm: SigningAlgorithm): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(algorithm, { extractable: true });
  const jwk: JWK = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  const signing: SigningKey = { kid, algorithm, privateKey };
  const pub: PublicKey = { kid, algorithm, key: publicKey, jwk };
  return { ring: { current: async () => signing, find: async (k) => (k === kid ? pub : undefined) }, privateKey, publicKey, kid, algorithm };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const nowS = () => Math.floor(Date.now() / 1000);

/** A token with these claims signed by `key` (our real key unless said otherwise). */
function sign(key: TestKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
  const t = nowS();
  return new SignJWT({ access: ACCESS, kind: 'user', iss: SETTINGS.issuer, aud: SETTINGS.service, sub: 'alice', iat: t, nbf: t, exp: t + 300, ...claims })
    .setProtectedHeader({ alg: key.algorithm, kid: key.kid, typ: 'JWT', ...header })
    .sign(key.privateKey);
}

async function assertRejected(verifier: { verifyAccess(t: string): Promise<unknown> }, token: string, why: RegExp) {
  await assert.rejects(verifier.verifyAccess(token), (err: unknown) => {
    assert.ok(err instanceof TokenError, `expected a TokenError, got ${String(err)}`);
    assert.match(err.message, why);
    return true;
  });
}

describe('Berth tokens: issue and verify', () => {
  let key: TestKey;
  let verifier: TokenVerifier;
  let issuer: TokenIssuer;
  before(async () => {
    key = await testKey('ES256');
    issuer = new TokenIssuer(key.ring, SETTINGS);
    verifier = new TokenVerifier(new LocalTokenVerifier(key.ring, SETTINGS));
  });

  for (const algorithm of ['ES256', 'EdDSA', 'RS256'] as const) {
    it(`issues a ${algorithm} token with kid, typ and the registry claims, and verifies it`, async () => {
      const k = await testKey(algorithm);
      const issued = await new TokenIssuer(k.ring, SETTINGS).access(USER, ACCESS);
      assert.equal(issued.expiresIn, 300);
      const [header, payload] = issued.token.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>);
      assert.deepEqual(header, { alg: algorithm, kid: k.kid, typ: 'JWT' });
      assert.equal(payload!.iss, SETTINGS.issuer);
      assert.equal(payload!.aud, SETTINGS.service);
      assert.equal(payload!.sub, 'alice');
      assert.equal((payload!.exp as number) - (payload!.iat as number), 300);
      assert.equal(typeof payload!.jti, 'string');
      const verified = await new TokenVerifier(new LocalTokenVerifier(k.ring, SETTINGS)).verifyAccess(issued.token);
      assert.deepEqual(verified, { principal: USER, access: ACCESS, local: true });
    });
  }

  it('gives an anonymous token an empty subject and reads it back as anonymous', async () => {
    const issued = await issuer.access({ subject: 'anonymous', kind: 'anonymous' }, []);
    const payload = JSON.parse(Buffer.from(issued.token.split('.')[1]!, 'base64url').toString()) as { sub: string };
    assert.equal(payload.sub, '');
    assert.deepEqual((await verifier.verifyAccess(issued.token)).principal, { subject: 'anonymous', kind: 'anonymous' });
  });

  it('rejects alg "none" (an unsigned token)', async () => {
    const t = nowS();
    const token = `${b64({ alg: 'none', typ: 'JWT', kid: key.kid })}.${b64({ iss: SETTINGS.issuer, aud: SETTINGS.service, sub: 'alice', iat: t, nbf: t, exp: t + 300, access: ACCESS })}.`;
    await assertRejected(verifier, token, /alg|algorithm|signature|unsecured|JWS/i);
  });

  it('rejects HS256 signed with the public key as the HMAC secret (key confusion)', async () => {
    const rsa = await testKey('RS256');
    const rsaVerifier = new TokenVerifier(new LocalTokenVerifier(rsa.ring, SETTINGS));
    const pem = await exportSPKI(rsa.publicKey);
    const t = nowS();
    const forged = await new SignJWT({ access: ACCESS, kind: 'user', sub: 'alice', iss: SETTINGS.issuer, aud: SETTINGS.service, iat: t, nbf: t, exp: t + 300 })
      .setProtectedHeader({ alg: 'HS256', kid: rsa.kid, typ: 'JWT' })
      .sign(new TextEncoder().encode(pem));
    await assertRejected(rsaVerifier, forged, /alg|algorithm/i);
  });

  it('rejects an expired token (beyond the 30 s clock tolerance)', async () => {
    await assertRejected(verifier, await sign(key, { iat: nowS() - 400, nbf: nowS() - 400, exp: nowS() - 31 }), /exp/i);
  });

  it('accepts a token expired within the clock tolerance', async () => {
    await verifier.verifyAccess(await sign(key, { iat: nowS() - 400, nbf: nowS() - 400, exp: nowS() - 5 }));
  });

  it('rejects a token that is not valid yet', async () => {
    await assertRejected(verifier, await sign(key, { nbf: nowS() + 120 }), /nbf/i);
  });

  it('rejects a token for another audience (service)', async () => {
    await assertRejected(verifier, await sign(key, { aud: 'other-registry' }), /aud/i);
  });

  it('rejects a token from another issuer, even signed with our key', async () => {
    await assertRejected(verifier, await sign(key, { iss: 'evil' }), /untrusted issuer/);
  });

  it('rejects a token whose payload was changed after signing', async () => {
    const token = await sign(key, {});
    const [h, p, s] = token.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
    payload.access = [{ type: 'repository', name: 'team/a', actions: ['pull', 'push', 'delete'] }];
    await assertRejected(verifier, `${h}.${b64(payload)}.${s}`, /signature/i);
  });

  it('rejects a token signed by a key it does not know (same kid, other key)', async () => {
    const other = await testKey('ES256');
    await assertRejected(verifier, await sign({ ...other, kid: key.kid }, {}), /signature/i);
  });

  it('rejects an unknown kid and a missing kid', async () => {
    await assertRejected(verifier, await sign(key, {}, { kid: 'nope' }), /unknown key/);
    await assertRejected(verifier, await sign(key, {}, { kid: undefined }), /unknown key/);
  });

  it('rejects garbage', async () => {
    await assertRejected(verifier, 'not.a.token', /malformed/);
    await assertRejected(verifier, 'abc', /malformed/);
  });

  it('never takes a refresh token as an access token, nor the other way round', async () => {
    const refresh = await issuer.refresh('alice', 1);
    await assertRejected(verifier, refresh.token, /typ/i);
    const access = await issuer.access(USER, ACCESS);
    await assert.rejects(verifier.local.verifyRefresh(access.token), TokenError);
    assert.deepEqual(await verifier.local.verifyRefresh(refresh.token), { account: 'alice', credentialVersion: 1 });
  });
});

describe('tokens from external issuers (BERTH_TOKEN_ISSUERS)', () => {
  let local: TestKey;
  let external: TestKey;
  let jwksServer: Server;
  let jwksUrl: string;
  before(async () => {
    local = await testKey('ES256');
    external = await testKey('RS256');
    const jwk = { ...(await exportJWK(external.publicKey)), kid: external.kid, alg: 'RS256' };
    jwksServer = createServer((_req, res) => res.setHeader('Content-Type', 'application/json').end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
  });
  after(() => new Promise<void>((r) => jwksServer.close(() => r())));

  const externalToken = (claims: Record<string, unknown> = {}) =>
    sign(external, { iss: 'https://ci.example', aud: 'berth-ci', sub: 'pipeline-7', ...claims });

  for (const source of ['pem', 'jwks'] as const) {
    it(`accepts a token from a trusted issuer (${source}) with its access claim, and checks its audience`, async () => {
      const issuerConfig = {
        issuer: 'https://ci.example',
        audience: 'berth-ci',
        algorithms: ['RS256'],
        ...(source === 'pem' ? { publicKeyPem: await exportSPKI(external.publicKey) } : { jwksUrl }),
      };
      const verifier = new TokenVerifier(new LocalTokenVerifier(local.ring, SETTINGS), [new ExternalIssuer(issuerConfig)]);
      const verified = await verifier.verifyAccess(await externalToken());
      assert.deepEqual(verified, { principal: { subject: 'https://ci.example#pipeline-7', kind: 'external' }, access: ACCESS, local: false });
      await assertRejected(verifier, await externalToken({ aud: SETTINGS.service }), /aud/i);
      await assertRejected(verifier, await sign(local, { iss: 'https://ci.example', aud: 'berth-ci' }), /alg|signature|key/i);
    });
  }
});
