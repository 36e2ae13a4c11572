// The UI's built files (src/ui/build.mjs writes them to dist/public): read once at start-up and
// answered from memory, precompressed. Assets have content-hashed names and are cached for a year;
// index.html is revalidated on every visit so a new release shows at once.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from 'koa';

/** From src/ui (tsx) and from dist/ui (compiled) alike: <root>/dist/public. */
export const PUBLIC_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'public');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8',
  '.png': 'image/png',
};

interface StaticFile {
  type: string;
  identity: Buffer;
  gzip: Buffer | undefined;
  br: Buffer | undefined;
}

export interface UiFiles {
  index: StaticFile;
  assets: Map<string, StaticFile>;
}

function load(path: string): StaticFile {
  const optional = (p: string) => (existsSync(p) ? readFileSync(p) : undefined);
  return { type: TYPES[extname(path)] ?? 'application/octet-stream', identity: readFileSync(path), gzip: optional(`${path}.gz`), br: optional(`${path}.br`) };
}

/** The built UI, or undefined when `npm run build` has not built it (or is rebuilding it just now). */
export function loadUiFiles(dir = PUBLIC_DIR): UiFiles | undefined {
  try {
    const assets = new Map<string, StaticFile>();
    const assetDir = join(dir, 'assets');
    for (const name of readdirSync(assetDir)) {
      if (name.endsWith('.gz') || name.endsWith('.br')) continue;
      assets.set(name, load(join(assetDir, name)));
    }
    return { index: load(join(dir, 'index.html')), assets };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Answers with the best encoding the client accepts. */
export function sendStatic(ctx: Context, file: StaticFile, cacheControl: string): void {
  const accepted = ctx.get('Accept-Encoding');
  const encoding = file.br && /\bbr\b/.test(accepted) ? 'br' : file.gzip && /\bgzip\b/.test(accepted) ? 'gzip' : undefined;
  ctx.status = 200;
  ctx.type = file.type;
  ctx.set('Cache-Control', cacheControl);
  ctx.set('Vary', 'Accept-Encoding');
  if (encoding) ctx.set('Content-Encoding', encoding);
  ctx.body = encoding === 'br' ? file.br : encoding === 'gzip' ? file.gzip : file.identity;
}
