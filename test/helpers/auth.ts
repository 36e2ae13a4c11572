// Talking to a registry with BERTH_AUTH=token in integration tests: fetching tokens the way
// clients do, agents that send one, and reading challenges.
import assert from 'node:assert/strict';
import supertest from 'supertest';
import type { TestRegistry } from './registry.js';

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  scope: string;
  refresh_token?: string;
}

/** GET /token as the docker CLI does it: Basic credentials (or none) and repeated scope parameters. */
export async function fetchToken(reg: TestRegistry, scopes: string[], credentials?: [string, string], expectStatus = 200) {
  const query = new URLSearchParams({ service: reg.auth!.config.service });
  for (const s of scopes) query.append('scope', s);
  const req = reg.request.get(`/token?${query.toString()}`);
  if (credentials) req.set('Authorization', basic(...credentials));
  return req.expect(expectStatus);
}

export async function tokenFor(reg: TestRegistry, scopes: string[], credentials?: [string, string]): Promise<string> {
  return ((await fetchToken(reg, scopes, credentials)).body as TokenResponse).token;
}

/** The `access` claim of a token (read without verifying: the registry verifies). */
export function accessOf(token: string): { type: string; name: string; actions: string[] }[] {
  return (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { access: [] }).access;
}

/** An agent that sends this bearer token on every request. */
export function withToken(reg: TestRegistry, token: string): ReturnType<typeof supertest.agent> {
  return supertest.agent(reg.app.callback()).set('Authorization', `Bearer ${token}`);
}

/** The parameters of a `WWW-Authenticate: Bearer k="v",…` challenge. */
export function bearerChallenge(res: { headers: Record<string, string> }): Record<string, string> {
  const header = res.headers['www-authenticate'];
  assert.ok(header, 'no WWW-Authenticate header');
  assert.match(header, /^Bearer /);
  return Object.fromEntries([...header.slice(7).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}
