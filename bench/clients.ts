// Client figures: real registry clients against both registries. Not measured yet — the HTTP
// figures come first. A client figure plugs in here and bench/run.ts runs it with --clients
// (installing the Debian packages its `tools` name first).
//
// Planned:
//   - skopeo copy of a 5-layer ~200 MiB OCI image (oci: layout → docker://127.0.0.1:<port>/… and back),
//     the layout written as test/helpers/images.ts writeOciLayout does → seconds, MiB/s
//   - docker push / docker pull of the same image with a private dockerd (own socket, data root and
//     containerd namespace, as test/helpers/dockerd.ts starts it) → seconds
import type { PerRegistry } from './figures.js';
import type { Client } from './lib/client.js';
import type { RegistryProc } from './lib/procs.js';
import type { Spread } from './lib/stats.js';

export interface ClientFigureContext {
  regs: RegistryProc[];
  clients: Map<string, Client>;
  runs: number;
  tmp: string;
  log: (s: string) => void;
  notes: string[];
}

export interface ClientFigure {
  /** row label in the results table */
  title: string;
  unit: string;
  better: 'higher' | 'lower';
  /** executables it needs and the Debian packages that bring them */
  tools: Array<{ tool: string; pkg: string }>;
  run(ctx: ClientFigureContext): Promise<PerRegistry<Spread>>;
}

export const clientFigures: ClientFigure[] = [];
