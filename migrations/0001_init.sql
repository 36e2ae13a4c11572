-- Berth's metadata: repositories link content-addressed blobs and manifests; tags point at
-- manifests; every tag change is an event; uploads live here so any replica can continue one.

CREATE TABLE repositories (
  id         bigserial PRIMARY KEY,
  -- Byte order ("C") is the lexical order the catalog and tag lists promise.
  name       text COLLATE "C" NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- What exists in the blob store, stored once whatever the number of repositories using it.
CREATE TABLE blobs (
  digest     text PRIMARY KEY,
  size       bigint NOT NULL CHECK (size >= 0),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- A repository may serve (and mount from) this blob.
CREATE TABLE repository_blobs (
  repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  digest        text NOT NULL REFERENCES blobs (digest),
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (repository_id, digest)
);
CREATE INDEX repository_blobs_digest ON repository_blobs (digest);

-- Manifest bytes are kept verbatim: the digest is computed over exactly what was pushed.
CREATE TABLE manifests (
  repository_id  bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  digest         text NOT NULL,
  media_type     text NOT NULL,
  artifact_type  text,
  subject_digest text,
  annotations    jsonb,
  size           bigint NOT NULL,
  payload        bytea NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (repository_id, digest)
);
CREATE INDEX manifests_subject ON manifests (repository_id, subject_digest) WHERE subject_digest IS NOT NULL;

-- What a manifest points at: config, layers, index children, subject. Drives validation, GC.
CREATE TABLE manifest_references (
  repository_id   bigint NOT NULL,
  manifest_digest text NOT NULL,
  child_digest    text NOT NULL,
  kind            text NOT NULL CHECK (kind IN ('config', 'layer', 'manifest', 'blob', 'subject')),
  PRIMARY KEY (repository_id, manifest_digest, kind, child_digest),
  FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_references_child ON manifest_references (repository_id, child_digest);

CREATE TABLE tags (
  repository_id   bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  name            text COLLATE "C" NOT NULL,
  manifest_digest text NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (repository_id, name),
  FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests (repository_id, digest)
);
CREATE INDEX tags_manifest ON tags (repository_id, manifest_digest);

-- The version history: one row per tag change, written in the transaction that makes the change.
CREATE TABLE tag_events (
  id              bigserial PRIMARY KEY,
  repository_id   bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  tag             text NOT NULL,
  digest          text,
  previous_digest text,
  action          text NOT NULL CHECK (action IN ('push', 'move', 'delete', 'rollback')),
  actor           text NOT NULL,
  client_addr     text,
  user_agent      text,
  reason          text,
  at              timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX tag_events_tag ON tag_events (repository_id, tag, id DESC);

-- Upload sessions. hash_state is the resumable digest state at byte `offset`; backend_state is
-- whatever the blob store needs to continue (e.g. an S3 multipart upload id and its parts).
CREATE TABLE uploads (
  id             uuid PRIMARY KEY,
  repository_id  bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  "offset"       bigint NOT NULL DEFAULT 0,
  hash_algorithm text NOT NULL DEFAULT 'sha256',
  hash_state     bytea,
  backend_state  jsonb,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploads_updated ON uploads (updated_at);
