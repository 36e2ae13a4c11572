-- The blob store this registry's metadata describes (driver and location), recorded at the first
-- start. The server and the server-side commands (gc, fsck, ...) refuse to run against another
-- store: run next to an S3-backed registry without its S3 settings, `berth fsck` reported every
-- blob missing and `berth gc` would have collected against the wrong store.
CREATE TABLE registry_blob_store (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  identity text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
