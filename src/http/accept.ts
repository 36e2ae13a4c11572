// Manifest content negotiation. Clients list the manifest types they can parse in `Accept`
// (docker and containerd send several, possibly with q-values). A manifest of a type the client
// explicitly cannot parse is answered MANIFEST_UNKNOWN, as Distribution does, rather than handing
// it bytes it would fail on; no Accept, a wildcard, or a list without any manifest type accepts all.
import { MANIFEST_MEDIA_TYPES } from '../registry/media-types.js';

/** Everything, or exactly these types. */
type Allowed = 'all' | ReadonlySet<string>;

// A client sends the same Accept on every pull, and parsing it was ~2 % of a manifest GET's CPU:
// each distinct header is parsed once. Bounded in count and length, as clients choose the text.
const parsed = new Map<string, Allowed>();
const MAX_REMEMBERED = 64;
const MAX_REMEMBERED_LENGTH = 1024;

export function acceptsManifest(accept: string, mediaType: string): boolean {
  let allowed = parsed.get(accept);
  if (allowed === undefined) {
    allowed = parseAccept(accept);
    if (accept.length <= MAX_REMEMBERED_LENGTH) {
      if (parsed.size >= MAX_REMEMBERED) parsed.clear();
      parsed.set(accept, allowed);
    }
  }
  return allowed === 'all' || allowed.has(mediaType);
}

function parseAccept(accept: string): Allowed {
  if (accept === '') return 'all';
  const accepted = new Set<string>();
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    if (q !== undefined && Number(q.slice(2)) === 0) continue;
    if (type === '*/*' || type === 'application/*') return 'all';
    accepted.add(type);
  }
  if (![...accepted].some((t) => MANIFEST_MEDIA_TYPES.has(t))) return 'all';
  return accepted;
}
