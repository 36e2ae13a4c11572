// Small request bodies of the token endpoint and the management API: an OAuth2 form or a JSON
// object, at most 64 KiB, read whole. Anything else is REQUEST_INVALID.
import type { Context } from 'koa';
import { RegistryError } from '../errors/registry-error.js';
import { bareMediaType } from '../registry/media-types.js';

const LIMIT = 64 * 1024;

async function readSmall(ctx: Context): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of ctx.req) {
    total += (chunk as Buffer).length;
    if (total > LIMIT) throw new RegistryError('REQUEST_INVALID', { message: `request body over ${LIMIT} bytes` });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

export async function readForm(ctx: Context): Promise<URLSearchParams> {
  if (bareMediaType(ctx.get('Content-Type')) !== 'application/x-www-form-urlencoded') {
    throw new RegistryError('REQUEST_INVALID', { message: 'expected Content-Type: application/x-www-form-urlencoded' });
  }
  return new URLSearchParams(await readSmall(ctx));
}

export async function readJson(ctx: Context): Promise<unknown> {
  if (bareMediaType(ctx.get('Content-Type')) !== 'application/json') {
    throw new RegistryError('REQUEST_INVALID', { message: 'expected Content-Type: application/json' });
  }
  try {
    return JSON.parse(await readSmall(ctx)) as unknown;
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    throw new RegistryError('REQUEST_INVALID', { message: 'body is not valid JSON' });
  }
}
