// Manifest content negotiation. Clients list the manifest types they can parse in `Accept`
// (docker and containerd send several, possibly with q-values). A manifest of a type the client
// explicitly cannot parse is answered MANIFEST_UNKNOWN, as Distribution does, rather than handing
// it bytes it would fail on; no Accept, a wildcard, or a list without any manifest type accepts all.
import { MANIFEST_MEDIA_TYPES } from '../registry/media-types.js';

export function acceptsManifest(accept: string, mediaType: string): boolean {
  if (accept === '') return true;
  const accepted = new Set<string>();
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    if (q !== undefined && Number(q.slice(2)) === 0) continue;
    if (type === '*/*' || type === 'application/*') return true;
    accepted.add(type);
  }
  if (![...accepted].some((t) => MANIFEST_MEDIA_TYPES.has(t))) return true;
  return accepted.has(mediaType);
}
