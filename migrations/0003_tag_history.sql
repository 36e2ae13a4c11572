-- Tag history (issue 5): every event gets a per-tag revision number (1, 2, 3, … in the order the
-- changes happened), the id users type (`prod@3`, `berth rollback --revision 3`). Numbers are given
-- under the tag's advisory lock by src/db/tags.ts; the unique index makes a duplicate impossible
-- even for a writer that forgot the lock. Existing events are numbered in id order, which is the
-- order they were made in (ids are taken under the same lock).
ALTER TABLE tag_events ADD COLUMN revision integer;

UPDATE tag_events e SET revision = n.revision
FROM (SELECT id, row_number() OVER (PARTITION BY repository_id, tag ORDER BY id)::int AS revision FROM tag_events) n
WHERE e.id = n.id;

ALTER TABLE tag_events ALTER COLUMN revision SET NOT NULL;
ALTER TABLE tag_events ADD CONSTRAINT tag_events_revision_positive CHECK (revision > 0);
CREATE UNIQUE INDEX tag_events_tag_revision ON tag_events (repository_id, tag, revision);

-- "What did the tag point at, at time T" and the retention window scan events by time.
CREATE INDEX tag_events_tag_at ON tag_events (repository_id, tag, at);
-- Retention and diff look events up by the digest they recorded.
CREATE INDEX tag_events_digest ON tag_events (repository_id, digest) WHERE digest IS NOT NULL;
CREATE INDEX tag_events_previous_digest ON tag_events (repository_id, previous_digest) WHERE previous_digest IS NOT NULL;
