// The admin-only management API (BERTH_AUTH=token): users, robot accounts, permissions, and lifting
// failed-login lockouts.
// Callers authenticate with HTTP Basic (an admin's name and password, rate-limited like every
// login) or a bearer token Berth issued to an admin; the admin flag is read at every request, so
// taking it away takes effect at once.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { AccountError } from '../../auth/accounts.js';
import { browserSessionOf } from '../../auth/browser-session.js';
import { parseBasic } from '../../auth/credentials.js';
import type { TokenAuth } from '../../auth/token-auth.js';
import { TokenError } from '../../auth/tokens.js';
import { parseDuration } from '../../config.js';
import type { PermissionRow } from '../../db/permissions.js';
import { RegistryError } from '../../errors/registry-error.js';
import { setPrincipal } from '../../auth/access.js';
import { sendEmpty } from '../respond.js';
import { readJson } from '../small-body.js';

type Handler = (ctx: Context, ...params: string[]) => Promise<void>;

const actions = z.array(z.enum(['pull', 'push', 'delete', 'admin'])).min(1);
const newUser = z.strictObject({ name: z.string(), password: z.string(), admin: z.boolean().optional() });
const userChange = z.strictObject({ password: z.string().optional(), admin: z.boolean().optional() });
const newRobot = z.strictObject({
  name: z.string(),
  description: z.string().max(1000).optional(),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  expiresIn: z.string().optional(),
  permissions: z.array(z.strictObject({ repository: z.string(), actions })).max(100).optional(),
});
const permission = z.strictObject({ account: z.string().nullable(), repository: z.string(), actions });
const lockout = z.strictObject({ account: z.string().optional(), address: z.string().optional() });

function permissionJson(row: PermissionRow) {
  return { id: row.id, account: row.account, repository: row.pattern, actions: row.actions };
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const message = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
    throw new RegistryError('REQUEST_INVALID', { message });
  }
  return parsed.data;
}

function fromAccountError(err: unknown): unknown {
  if (!(err instanceof AccountError)) return err;
  const code = err.reason === 'exists' ? 'CONFLICT' : err.reason === 'unknown' ? 'NOT_FOUND' : 'REQUEST_INVALID';
  return new RegistryError(code, { message: err.message });
}

function decodeCaptures(ctx: Context): string[] {
  try {
    return (ctx.captures ?? []).map((p: string) => decodeURIComponent(p));
  } catch {
    throw new RegistryError('REQUEST_INVALID', { message: 'malformed percent-encoding in the path' });
  }
}

/** Resolves once the request is an administrator's (bearer token, Basic, or a UI session); UNAUTHORIZED or DENIED otherwise. */
export async function requireAdministrator(auth: TokenAuth, ctx: Context): Promise<void> {
  const { accounts } = auth;
  const session = browserSessionOf(ctx);
  if (session) {
    if (!session.admin) throw new RegistryError(session.principal.kind === 'anonymous' ? 'UNAUTHORIZED' : 'DENIED', { message: 'the management API needs an administrator' });
    setPrincipal(ctx, session.principal);
    return;
  }
  const header = ctx.get('Authorization');
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  let name: string | undefined;
  if (bearer) {
    try {
      const token = await auth.verifier.verifyAccess(bearer[1]!);
      if (token.local && token.principal.kind === 'user') name = token.principal.subject;
      else throw new RegistryError('DENIED', { message: 'the management API needs an administrator' });
    } catch (err) {
      if (err instanceof TokenError) throw new RegistryError('UNAUTHORIZED', { message: `invalid token: ${err.message}` });
      throw err;
    }
  } else {
    const credentials = parseBasic(header);
    if (!credentials) {
      throw new RegistryError('UNAUTHORIZED', { headers: { 'WWW-Authenticate': 'Basic realm="Berth management API"' } });
    }
    name = (await auth.login.login(ctx, credentials)).name;
  }
  const account = await accounts.find(name);
  if (!account?.admin) throw new RegistryError('DENIED', { message: 'the management API needs an administrator' });
  setPrincipal(ctx, { subject: account.name, kind: 'user' });
}

export function createManagementRouter(auth: TokenAuth): Router {
  const { accounts } = auth;
  const router = new Router();

  const requireAdmin = (ctx: Context) => requireAdministrator(auth, ctx);

  const admin = (handler: Handler) => async (ctx: Context) => {
    ctx.set('Cache-Control', 'no-store');
    await requireAdmin(ctx);
    try {
      await handler(ctx, ...decodeCaptures(ctx));
    } catch (err) {
      throw fromAccountError(err);
    }
  };
  const json = (ctx: Context, status: number, body: unknown) => {
    ctx.status = status;
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(body);
  };

  const USERS = /^\/api\/v1\/users$/;
  const USER = /^\/api\/v1\/users\/([^/]+)$/;
  const ROBOTS = /^\/api\/v1\/robots$/;
  const ROBOT = /^\/api\/v1\/robots\/([^/]+)$/;
  const PERMISSIONS = /^\/api\/v1\/permissions$/;
  const PERMISSION = /^\/api\/v1\/permissions\/([^/]+)$/;
  const LOCKOUTS_CLEAR = /^\/api\/v1\/login-lockouts\/clear$/;

  router.get(USERS, admin(async (ctx) => json(ctx, 200, { users: await accounts.list('user') })));
  router.post(USERS, admin(async (ctx) => {
    const body = parseBody(newUser, await readJson(ctx));
    json(ctx, 201, await accounts.addUser(body.name, body.password, body.admin ?? false));
  }));
  router.patch(USER, admin(async (ctx, name) => {
    const body = parseBody(userChange, await readJson(ctx));
    if (body.password === undefined && body.admin === undefined) throw new RegistryError('REQUEST_INVALID', { message: 'nothing to change: give password and/or admin' });
    const existing = await accounts.find(name!);
    if (existing?.kind !== 'user') throw new RegistryError('NOT_FOUND', { message: `no user "${name!.slice(0, 80)}"` });
    let info = body.password !== undefined ? await accounts.setPassword(name!, body.password) : undefined;
    if (body.admin !== undefined) info = await accounts.setAdmin(name!, body.admin);
    json(ctx, 200, info);
  }));
  router.delete(USER, admin(async (ctx, name) => {
    if (name === ctx.state.principal?.subject) throw new RegistryError('REQUEST_INVALID', { message: 'an administrator cannot delete themselves' });
    await accounts.remove(name!, 'user');
    sendEmpty(ctx, 204);
  }));

  router.get(ROBOTS, admin(async (ctx) => json(ctx, 200, { robots: await accounts.list('robot') })));
  router.post(ROBOTS, admin(async (ctx) => {
    const body = parseBody(newRobot, await readJson(ctx));
    if (body.expiresAt && body.expiresIn) throw new RegistryError('REQUEST_INVALID', { message: 'give expiresAt or expiresIn, not both' });
    let expiresAt = body.expiresAt ? new Date(body.expiresAt) : undefined;
    if (body.expiresIn !== undefined) {
      const ms = parseDuration(body.expiresIn);
      if (!ms) throw new RegistryError('REQUEST_INVALID', { message: 'expiresIn must be a duration like 90m, 24h or 30d' });
      expiresAt = new Date(Date.now() + ms);
    }
    const grants = body.permissions?.map((p) => ({ pattern: p.repository, actions: p.actions }));
    const { robot, secret } = await accounts.addRobot(body.name, { description: body.description, expiresAt, grants });
    json(ctx, 201, { ...robot, secret });
  }));
  router.delete(ROBOT, admin(async (ctx, name) => {
    await accounts.remove(name!, 'robot');
    sendEmpty(ctx, 204);
  }));

  router.get(PERMISSIONS, admin(async (ctx) => {
    json(ctx, 200, { permissions: (await accounts.listGrants()).map(permissionJson) });
  }));
  router.put(PERMISSIONS, admin(async (ctx) => {
    const body = parseBody(permission, await readJson(ctx));
    const row = await accounts.grant(body.account, { pattern: body.repository, actions: body.actions });
    json(ctx, 200, permissionJson(row));
  }));
  router.delete(PERMISSION, admin(async (ctx, id) => {
    if (!/^\d{1,15}$/.test(id!) || !(await accounts.revoke(Number(id)))) {
      throw new RegistryError('NOT_FOUND', { message: `no permission ${id!.slice(0, 20)}` });
    }
    sendEmpty(ctx, 204);
  }));

  router.post(LOCKOUTS_CLEAR, admin(async (ctx) => {
    await accounts.clearLockout(parseBody(lockout, await readJson(ctx)));
    sendEmpty(ctx, 204);
  }));
  return router;
}
