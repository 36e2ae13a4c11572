-- Garbage collection (issue 6): "is this blob still referenced by any manifest of any repository"
-- is asked by digest alone, for every candidate and again under lock; the existing index leads with
-- the repository.
CREATE INDEX manifest_references_child_digest ON manifest_references (child_digest);

-- Blobs whose rows the collector deleted and whose bytes it has yet to delete from the store: written
-- in the transaction that deletes the rows, removed once the bytes are gone. A collector that dies
-- (or a store that fails) in between leaves the entry, and the next run finishes the job, unless the
-- digest was uploaded again meanwhile (its row is back: the bytes are kept).
CREATE TABLE gc_pending_deletes (
  digest    text PRIMARY KEY,
  size      bigint NOT NULL,
  queued_at timestamptz NOT NULL DEFAULT now()
);
