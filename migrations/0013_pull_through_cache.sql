-- Pull-through caches (BERTH_PROXIES): which repositories hold content fetched from an upstream
-- registry, from where, and when they were last pulled (garbage collection evicts what nobody
-- pulled within the entry's keep period); and when each cached tag was last checked upstream
-- (a tag younger than the entry's tagTtl is served without asking the upstream).
CREATE TABLE proxy_repositories (
  repository_id  bigint PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
  prefix         text NOT NULL,
  upstream       text NOT NULL,
  last_pulled_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX proxy_repositories_last_pulled ON proxy_repositories (last_pulled_at);

CREATE TABLE proxy_tag_checks (
  repository_id  bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  tag            text COLLATE "C" NOT NULL,
  -- The digest the upstream named at that check: a HEAD answering another one means the tag moved.
  digest         text NOT NULL,
  checked_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (repository_id, tag)
);
