// Builds the web UI into dist/public: one minified, content-hashed JS and CSS bundle from
// src/ui/app (Preact), an index.html that names them, and .gz/.br copies of each for the server
// to send as they are. Run by `npm run build` (and so by `npm start`) and by the UI tests.
import { build } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const target = resolve(here, '..', '..', 'dist', 'public');
// Built beside the target and moved into place at the end: a Berth starting meanwhile sees the old
// build or the new one, never half of one.
const out = `${target}.${process.pid}`;
const assets = join(out, 'assets');

export async function buildUi() {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(assets, { recursive: true });
  const result = await build({
    entryPoints: [join(here, 'app', 'main.tsx')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    loader: { '.svg': 'file' },
    outdir: assets,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const js = outputs.find((f) => f.endsWith('.js'));
  const css = outputs.find((f) => f.endsWith('.css'));
  const icon = readFileSync(join(here, 'app', 'icon.svg'));
  const iconName = `icon-${(await import('node:crypto')).createHash('sha256').update(icon).digest('hex').slice(0, 8)}.svg`;
  writeFileSync(join(assets, iconName), icon);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Berth</title>
<link rel="icon" href="/ui/assets/${iconName}" type="image/svg+xml">
<link rel="stylesheet" href="/ui/assets/${css}">
<script type="module" src="/ui/assets/${js}"></script>
</head>
<body>
<div id="app"><noscript>Berth's web UI needs JavaScript. The registry itself works without it: docker push, docker pull, berth history.</noscript></div>
</body>
</html>
`;
  writeFileSync(join(out, 'index.html'), html);
  const compress = (dir) => {
    for (const name of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, name.name);
      if (name.isDirectory()) compress(path);
      else if (/\.(js|css|html|svg)$/.test(name.name)) {
        const bytes = readFileSync(path);
        writeFileSync(`${path}.gz`, gzipSync(bytes, { level: 9 }));
        writeFileSync(`${path}.br`, brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
      }
    }
  };
  compress(out);
  rmSync(target, { recursive: true, force: true });
  renameSync(out, target);
  return { dir: target, js, css };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildUi();
}
