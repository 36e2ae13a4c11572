// Page 3: a tag's history as a timeline, with "Roll back to this" on earlier events. The
// confirmation shows what would change, asks why, and sends `expect` with the digest the tag has
// now: a 412 means someone moved it meanwhile. After a rollback, Undo is one click. An immutable
// tag offers no rollback (the server would refuse it) and says which rule holds it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, enc, encName, type ImageDiff, type Session, type TagEvent } from './api.js';
import { DiffView } from './diff.js';
import { repoBase } from './repository.js';
import { Digest, ErrorBox, Loading, PageTitle, Show, Time, useLoad } from './ui.js';

interface HistoryPage {
  current: string | null;
  events: TagEvent[];
  next: number | null;
  /** The BERTH_IMMUTABLE_TAGS rule covering the tag, if any. */
  immutable: { rule: string } | null;
}

interface RollbackResult {
  from: string | null;
  to: string;
  changed: boolean;
  event: TagEvent | null;
}

const ACTION_WORDS: Record<TagEvent['action'], string> = { push: 'pushed', move: 'moved', delete: 'deleted', rollback: 'rolled back' };

function RollbackDialog(props: {
  name: string;
  tag: string;
  current: string | null;
  target: TagEvent;
  onClose: () => void;
  onDone: (r: RollbackResult) => void;
  onRefresh: () => void;
}) {
  const { name, tag, current, target } = props;
  const ref = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [diff] = useLoad(
    () =>
      current
        ? api<ImageDiff>(`/api/v1/repositories/${encName(name)}/diff?from=${enc(current)}&to=${enc(target.digest!)}`)
        : Promise.resolve(null),
    `${current}|${target.digest}`,
  );
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const result = await api<RollbackResult>(`/api/v1/repositories/${encName(name)}/tags/${enc(tag)}/rollback`, {
        method: 'POST',
        body: { revision: target.revision, expect: current, reason: reason || undefined },
      });
      props.onDone(result);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const moved = error instanceof ApiError && error.status === 412;
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="rollback-title" onClose={props.onClose}>
      <form onSubmit={submit}>
        <h2 id="rollback-title">
          Roll back <code>{tag}</code> to revision {target.revision}?
        </h2>
        <p>
          <code>{tag}</code> points at <Digest digest={current} /> now; it will point at <Digest digest={target.digest} />, which{' '}
          {target.actor} {ACTION_WORDS[target.action]} <Time at={target.at} />.
        </p>
        <h3>What changes</h3>
        <div class="dialog-diff">
          <Show loaded={diff} what="Comparing">
            {(d) => (d ? <DiffView diff={d} base={repoBase(name)} /> : <p>The tag is deleted now: it will be created again.</p>)}
          </Show>
        </div>
        <label for="rollback-reason">Reason (kept in the history)</label>
        <textarea id="rollback-reason" value={reason} maxLength={1000} rows={2} onInput={(e) => setReason((e.target as HTMLTextAreaElement).value)} placeholder="e.g. 1.4.2 breaks checkout" />
        {error !== null &&
          (moved ? (
            <ErrorBox error={error}>
              <p>The tag moved while this page was open. Refresh to see its new history before rolling back.</p>
              <button type="button" onClick={props.onRefresh}>
                Refresh history
              </button>
            </ErrorBox>
          ) : (
            <ErrorBox error={error} />
          ))}
        <div class="buttons">
          <button type="button" onClick={() => ref.current?.close()}>
            Cancel
          </button>
          <button type="submit" class="danger" disabled={busy || moved}>
            {busy ? 'Rolling back…' : 'Roll back'}
          </button>
        </div>
      </form>
    </dialog>
  );
}

export function HistoryPage({ name, tag, session }: { name: string; tag: string; session: Session }) {
  const [history, reload] = useLoad(() => api<HistoryPage>(`/api/v1/repositories/${encName(name)}/tags/${enc(tag)}/history?n=200`), `${name}|${tag}`);
  const [perm] = useLoad(() => api<Session>(`/api/v1/session?repository=${enc(name)}`), name);
  const [target, setTarget] = useState<TagEvent | null>(null);
  const [done, setDone] = useState<RollbackResult | null>(null);
  const [undoError, setUndoError] = useState<unknown>(null);
  const [undoing, setUndoing] = useState(false);
  const mayPush = perm.state === 'ok' && (perm.data.actions ?? []).includes('push');
  const base = repoBase(name);

  const undo = async () => {
    if (!done?.from) return;
    setUndoing(true);
    setUndoError(null);
    try {
      await api(`/api/v1/repositories/${encName(name)}/tags/${enc(tag)}/rollback`, {
        method: 'POST',
        body: { digest: done.from, expect: done.to, reason: `undo rollback (revision ${done.event?.revision ?? '?'})` },
      });
      setDone(null);
      reload();
    } catch (err) {
      setUndoError(err);
    } finally {
      setUndoing(false);
    }
  };

  return (
    <>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="/ui/">Repositories</a> / <a href={base}>{name}</a> / <span aria-current="page">{tag}</span>
      </nav>
      <PageTitle title={`${name}:${tag}`}>
        <a class="button" href={`${base}/-/image/${enc(tag)}`}>
          Image
        </a>
      </PageTitle>
      {done && (
        <div class="notice success" role="status">
          Rolled back <code>{tag}</code> to <Digest digest={done.to} />.{' '}
          {done.from && (
            <button type="button" onClick={undo} disabled={undoing}>
              {undoing ? 'Undoing…' : 'Undo'}
            </button>
          )}
          {undoError !== null && <ErrorBox error={undoError} />}
        </div>
      )}
      <Show loaded={history} what="Loading history">
        {(h) => (
          <>
            <p>
              Now: <Digest digest={h.current} link={h.current ? `${base}/-/image/${enc(h.current)}` : undefined} />
              {h.immutable && <span class="badge">immutable</span>}
            </p>
            {h.immutable && (
              <p class="notice" role="note">
                <code>{tag}</code> is immutable under the <code>BERTH_IMMUTABLE_TAGS</code> rule {h.immutable.rule}: once pushed, it is never
                moved, deleted or rolled back, so no rollback is offered here.
              </p>
            )}
            <ol class="timeline" aria-label={`History of ${tag}, newest first`}>
              {h.events.map((e, i) => {
                // An immutable tag may only be created again, never moved from where it points.
                const canRollBack = mayPush && (h.immutable === null || h.current === null) && i > 0 && e.digest !== null && e.digest !== h.current;
                return (
                  <li key={e.revision} class={`event action-${e.action}`}>
                    <div class="event-head">
                      <span class={`badge action-${e.action}`}>{e.action}</span>
                      <span class="rev">#{e.revision}</span>
                      <strong>{e.actor}</strong> {ACTION_WORDS[e.action]} <Time at={e.at} />{' '}
                      {i === 0 && h.current !== null && e.digest === h.current && <span class="badge current">current</span>}
                    </div>
                    <div class="event-body">
                      <Digest digest={e.previousDigest} link={e.previousDigest ? `${base}/-/image/${enc(e.previousDigest)}` : undefined} /> →{' '}
                      <Digest digest={e.digest} link={e.digest ? `${base}/-/image/${enc(e.digest)}` : undefined} />
                      {e.reason && <blockquote>{e.reason}</blockquote>}
                    </div>
                    <div class="event-actions">
                      {e.previousDigest && e.digest && (
                        <a href={`${base}/-/diff?from=${enc(e.previousDigest)}&to=${enc(e.digest)}`}>What changed</a>
                      )}
                      {canRollBack && (
                        <button type="button" onClick={() => setTarget(e)}>
                          Roll back to this
                        </button>
                      )}
                    </div>
                  </li>
                );
              })}
            </ol>
            {h.events.length === 0 && <p class="empty">No recorded changes.</p>}
            {target && (
              <RollbackDialog
                name={name}
                tag={tag}
                current={h.current}
                target={target}
                onClose={() => setTarget(null)}
                onRefresh={() => {
                  setTarget(null);
                  reload();
                }}
                onDone={(r) => {
                  setTarget(null);
                  setDone(r.changed ? r : null);
                  reload();
                }}
              />
            )}
          </>
        )}
      </Show>
      {perm.state === 'loading' && <Loading />}
    </>
  );
}
