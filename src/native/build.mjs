// Builds src/native/resumable-sha.c into dist/native/resumable-sha.node. `npm install` runs this
// (package.json "install"), and so does `npm test` when the module is missing. It needs a C
// compiler and the headers that come with Node.js (node_api.h, and the openssl/ of the OpenSSL
// inside Node). Without them Berth still works: uploads to S3 then keep their running digest
// with hash-wasm, about a tenth as fast (src/hashing/upload-digest.ts). So a failure here warns
// and exits 0, unless --require is given (the test run in CI).
// Plain JavaScript on purpose: it runs before anything is compiled, and after `npm prune --omit=dev`.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const source = join(root, 'src', 'native', 'resumable-sha.c');
const target = join(root, 'dist', 'native', 'resumable-sha.node');
const required = process.argv.includes('--require');

function headers() {
  const candidates = [process.env.BERTH_NODE_HEADERS, join(dirname(process.execPath), '..', 'include', 'node')];
  return candidates.find((dir) => dir && existsSync(join(dir, 'node_api.h')) && existsSync(join(dir, 'openssl', 'sha.h')));
}

/** Loads the module in this process and checks it against node:crypto, saving and restoring midway. */
function check(file) {
  const sha = createRequire(import.meta.url)(file);
  const input = Buffer.from('berth '.repeat(100));
  for (const algorithm of ['sha256', 'sha512']) {
    const first = sha.create(algorithm);
    sha.update(first, input.subarray(0, 77));
    const second = sha.restore(sha.save(first));
    sha.update(second, input.subarray(77));
    if (sha.digest(second).toString('hex') !== createHash(algorithm).update(input).digest('hex')) {
      throw new Error(`${algorithm} digest differs from node:crypto`);
    }
  }
}

function build() {
  const include = headers();
  if (!include) throw new Error(`Node.js headers (node_api.h, openssl/sha.h) not found next to ${process.execPath}; set BERTH_NODE_HEADERS`);
  const cc = process.env.CC || 'cc';
  // require() picks the loader by extension: the temporary file must end in .node too.
  const temporary = join(dirname(target), `.building-${process.pid}.node`);
  mkdirSync(dirname(target), { recursive: true });
  const platformFlags = process.platform === 'darwin' ? ['-undefined', 'dynamic_lookup'] : [];
  try {
    execFileSync(cc, ['-O2', '-fPIC', '-shared', '-Wall', '-I', include, ...platformFlags, '-o', temporary, source], { stdio: ['ignore', 'inherit', 'pipe'] });
    check(temporary);
    renameSync(temporary, target);
  } catch (err) {
    rmSync(temporary, { force: true });
    const stderr = err.stderr?.toString().trim();
    throw new Error(err.code === 'ENOENT' ? `no C compiler (${cc})` : stderr || err.message);
  }
}

try {
  build();
  console.error(`berth: built ${target}`);
} catch (err) {
  console.error(`berth: the native SHA module was not built: ${err.message}`);
  console.error('  Berth works without it; uploads to S3 then hash with hash-wasm, about 10x slower.');
  console.error('  To build it: install a C compiler (Debian: apt-get install gcc libc6-dev), then run: node src/native/build.mjs');
  if (required) process.exit(1);
}
