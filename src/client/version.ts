// `berth --version`: the version in package.json, which sits one level above both src/cli.ts and
// dist/cli.js (and is in the container image next to dist/).
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}
