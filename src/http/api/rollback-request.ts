// The body of POST /api/v1/repositories/<name>/tags/<tag>/rollback, checked field by field so each
// mistake gets a message naming it. Exactly one target: to=previous, revision, digest (+force), at.
import { RegistryError } from '../../errors/registry-error.js';
import { parseDigest } from '../../registry/digest.js';
import type { RollbackRequest, RollbackTarget } from '../../services/tag-history.js';
import { parseRevision, parseTime } from './input.js';

const FIELDS = new Set(['to', 'revision', 'digest', 'force', 'at', 'expect', 'reason', 'dryRun']);
const MAX_REASON = 1000;

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('REQUEST_INVALID', { message, detail });
}

export function parseRollbackRequest(body: Record<string, unknown>): RollbackRequest {
  const unknown = Object.keys(body).filter((k) => !FIELDS.has(k));
  if (unknown.length > 0) throw invalid(`unknown field(s): ${unknown.join(', ')}`, { fields: unknown, allowed: [...FIELDS] });
  const targets = (['to', 'revision', 'digest', 'at'] as const).filter((k) => body[k] !== undefined);
  if (targets.length !== 1) {
    throw invalid('name exactly one target: {"to":"previous"}, {"revision":N}, {"digest":"sha256:…"} or {"at":"2026-11-20T14:00:00Z"}', {
      given: targets,
    });
  }
  if (body.force !== undefined && typeof body.force !== 'boolean') throw invalid('force must be true or false');
  if (body.force !== undefined && targets[0] !== 'digest') throw invalid('force goes with a digest target only');
  let target: RollbackTarget;
  switch (targets[0]!) {
    case 'to':
      if (body.to !== 'previous') throw invalid('"to" can only be "previous"', { to: String(body.to).slice(0, 40) });
      target = { kind: 'previous' };
      break;
    case 'revision':
      if (typeof body.revision !== 'number') throw invalid('revision must be a number', { revision: String(body.revision).slice(0, 40) });
      target = { kind: 'revision', revision: parseRevision(body.revision, 'revision') };
      break;
    case 'digest':
      if (typeof body.digest !== 'string') throw invalid('digest must be a string');
      target = { kind: 'digest', digest: parseDigest(body.digest).digest, force: body.force === true };
      break;
    case 'at':
      target = { kind: 'at', at: parseTime(body.at, 'at') };
      break;
  }
  let expect: string | null | undefined;
  if (body.expect === null) expect = null;
  else if (typeof body.expect === 'string') expect = parseDigest(body.expect).digest;
  else if (body.expect !== undefined) throw invalid('expect must be a digest or null');
  if (body.reason !== undefined && (typeof body.reason !== 'string' || body.reason.length > MAX_REASON)) {
    throw invalid(`reason must be a string of at most ${MAX_REASON} characters`);
  }
  if (body.dryRun !== undefined && typeof body.dryRun !== 'boolean') throw invalid('dryRun must be true or false');
  return { target, expect, reason: (body.reason as string | undefined) || undefined, dryRun: body.dryRun === true };
}
