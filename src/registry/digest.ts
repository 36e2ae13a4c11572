// Content digests (`<algorithm>:<encoded>`): parsing, the algorithms Berth verifies, hashing.
import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from '../errors/registry-error.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

/** The spec's digest grammar; only the algorithms below can be verified. */
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const ENCODED: Record<DigestAlgorithm, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

export interface ParsedDigest {
  digest: string;
  algorithm: DigestAlgorithm;
  hex: string;
}

export function isDigestAlgorithm(value: string): value is DigestAlgorithm {
  return value === 'sha256' || value === 'sha512';
}

/** Parses a digest this registry can verify, or returns undefined. */
export function tryParseDigest(value: string): ParsedDigest | undefined {
  if (!DIGEST_GRAMMAR.test(value)) return undefined;
  const i = value.indexOf(':');
  const algorithm = value.slice(0, i);
  const hex = value.slice(i + 1);
  if (!isDigestAlgorithm(algorithm) || !ENCODED[algorithm].test(hex)) return undefined;
  return { digest: value, algorithm, hex };
}

/** Parses a digest or throws DIGEST_INVALID (a malformed or unsupported digest is the client's error). */
export function parseDigest(value: string | undefined): ParsedDigest {
  const parsed = value === undefined ? undefined : tryParseDigest(value);
  if (!parsed) {
    throw new RegistryError('DIGEST_INVALID', {
      message: 'invalid or unsupported digest',
      detail: { digest: value ?? null, supported: ['sha256', 'sha512'] },
    });
  }
  return parsed;
}

export function looksLikeDigest(value: string): boolean {
  return value.includes(':');
}

export function createDigestHash(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}
