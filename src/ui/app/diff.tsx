// Page 4: what changed between two references, per platform: layers added, removed and kept with
// sizes, and the config fields side by side, the way a code review shows a change.
import { api, enc, encName, type ConfigChanges, type ImageDiff, type Layer, type MapChanges } from './api.js';
import { repoBase } from './repository.js';
import type { Location } from './router.js';
import { Digest, formatBytes, PageTitle, Show, useLoad } from './ui.js';

const show = (v: unknown) => (v === null || v === undefined ? '(none)' : Array.isArray(v) ? JSON.stringify(v) : String(v));

function Row({ field, from, to }: { field: string; from: unknown; to: unknown }) {
  return (
    <tr>
      <th scope="row">{field}</th>
      <td class="del">
        <code>{show(from)}</code>
      </td>
      <td class="add">
        <code>{show(to)}</code>
      </td>
    </tr>
  );
}

function mapRows(field: string, m: MapChanges | undefined) {
  if (!m) return [];
  return [
    ...Object.entries(m.changed).map(([k, v]) => <Row key={`${field}c${k}`} field={`${field} ${k}`} from={v.from} to={v.to} />),
    ...Object.entries(m.added).map(([k, v]) => <Row key={`${field}a${k}`} field={`${field} ${k}`} from={null} to={v} />),
    ...Object.entries(m.removed).map(([k, v]) => <Row key={`${field}r${k}`} field={`${field} ${k}`} from={v} to={null} />),
  ];
}

export function ConfigTable({ changes }: { changes: ConfigChanges }) {
  const rows = [
    ...(['entrypoint', 'cmd', 'user', 'workingDir', 'created'] as const).flatMap((f) => {
      const c = changes[f];
      return c ? [<Row key={f} field={f} from={c.from} to={c.to} />] : [];
    }),
    ...mapRows('env', changes.env),
    ...mapRows('label', changes.labels),
    ...(changes.exposedPorts
      ? [
          ...changes.exposedPorts.added.map((p) => <Row key={`p+${p}`} field="exposed port" from={null} to={p} />),
          ...changes.exposedPorts.removed.map((p) => <Row key={`p-${p}`} field="exposed port" from={p} to={null} />),
        ]
      : []),
  ];
  if (rows.length === 0) return <p class="muted">The configs agree on entrypoint, cmd, env, labels, ports, user and working directory.</p>;
  return (
    <table class="diff">
      <caption class="sr-only">Config changes</caption>
      <thead>
        <tr>
          <th scope="col">Field</th>
          <th scope="col">Before</th>
          <th scope="col">After</th>
        </tr>
      </thead>
      <tbody>{rows}</tbody>
    </table>
  );
}

function LayerRows({ layers, kind }: { layers: Layer[]; kind: 'add' | 'del' | 'keep' }) {
  const sign = kind === 'add' ? '+' : kind === 'del' ? '−' : ' ';
  return (
    <>
      {layers.map((l) => (
        <tr class={kind} key={`${kind}${l.digest}`}>
          <td class="sign" aria-label={kind === 'add' ? 'added' : kind === 'del' ? 'removed' : 'kept'}>
            {sign}
          </td>
          <td>
            <code title={l.digest}>{l.digest.replace(/^sha256:/, '').slice(0, 16)}</code>
          </td>
          <td class="num">{formatBytes(l.size)}</td>
        </tr>
      ))}
    </>
  );
}

const layers = (n: number) => `${n} ${n === 1 ? 'layer' : 'layers'}`;

export function DiffView({ diff, base }: { diff: ImageDiff; base: string }) {
  if (diff.identical) return <p class="notice">Both references name the same image ({diff.to.digest.slice(0, 19)}…): nothing changed.</p>;
  return (
    <>
      {diff.platforms.map((p) => {
        const added = p.layers?.added.reduce((s, l) => s + l.size, 0) ?? 0;
        const removed = p.layers?.removed.reduce((s, l) => s + l.size, 0) ?? 0;
        return (
          <section class="platform" key={p.platform}>
            <h3>
              {p.platform} <span class={`badge status-${p.status}`}>{p.status}</span>
            </h3>
            <p class="digests">
              <Digest digest={p.from} link={p.from ? `${base}/-/image/${enc(p.from)}` : undefined} /> →{' '}
              <Digest digest={p.to} link={p.to ? `${base}/-/image/${enc(p.to)}` : undefined} />
            </p>
            {p.layers && (
              <>
                <p class="summary">
                  <span class="add-text">+{layers(p.layers.added.length)} ({formatBytes(added)})</span> ·{' '}
                  <span class="del-text">−{layers(p.layers.removed.length)} ({formatBytes(removed)})</span> · {p.layers.kept.length} kept · total{' '}
                  {formatBytes(p.layers.fromSize)} → {formatBytes(p.layers.toSize)}
                </p>
                <h4>Layers</h4>
                <table class="layers-diff">
                  <caption class="sr-only">Layers of {p.platform}</caption>
                  <thead>
                    <tr>
                      <th scope="col">
                        <span class="sr-only">Change</span>
                      </th>
                      <th scope="col">Layer</th>
                      <th scope="col" class="num">
                        Size
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    <LayerRows layers={p.layers.removed} kind="del" />
                    <LayerRows layers={p.layers.added} kind="add" />
                    <LayerRows layers={p.layers.kept} kind="keep" />
                  </tbody>
                </table>
              </>
            )}
            {p.config && (
              <>
                <h4>Config</h4>
                <ConfigTable changes={p.config.changes} />
              </>
            )}
          </section>
        );
      })}
    </>
  );
}

export function DiffPage({ name, loc }: { name: string; loc: Location }) {
  const from = loc.query.get('from') ?? '';
  const to = loc.query.get('to') ?? '';
  const [diff] = useLoad(() => api<ImageDiff>(`/api/v1/repositories/${encName(name)}/diff?from=${enc(from)}&to=${enc(to)}`), `${name}|${from}|${to}`);
  const base = repoBase(name);
  return (
    <>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="/ui/">Repositories</a> / <a href={base}>{name}</a> / <span aria-current="page">diff</span>
      </nav>
      <PageTitle title={`${from} → ${to}`} />
      <Show loaded={diff} what="Comparing images">
        {(d) => (
          <>
            <p class="refs">
              <span class="del-text">{d.from.ref}</span> <Digest digest={d.from.digest} link={`${base}/-/image/${enc(d.from.digest)}`} /> →{' '}
              <span class="add-text">{d.to.ref}</span> <Digest digest={d.to.digest} link={`${base}/-/image/${enc(d.to.digest)}`} />{' '}
              <a href={`${base}/-/diff?from=${enc(to)}&to=${enc(from)}`}>Swap</a>
            </p>
            <DiffView diff={d} base={base} />
          </>
        )}
      </Show>
    </>
  );
}
