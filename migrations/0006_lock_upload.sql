-- A closing PUT's first round trip (src/db/uploads.ts, lockAndLoadUpload): the upload's write lock
-- and, when a digest is given, that blob's shared guard (the keys of src/db/blob-guard.ts and
-- src/gc/collector.ts), then the upload row. The row is read by a later statement of this VOLATILE
-- function, whose snapshot is taken after the lock was had, so it shows what the lock's previous
-- holder committed; one SQL statement could not (its snapshot would predate the lock). Without the
-- upload lock nothing else is taken and the row is not read: locked is false.
CREATE FUNCTION berth_lock_upload(upload_id uuid, repository text, guard_digest text)
RETURNS TABLE (
  locked boolean,
  id uuid,
  repository_id bigint,
  name text,
  "offset" bigint,
  hash_algorithm text,
  hash_state bytea,
  backend_state jsonb,
  created_at timestamptz
)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  IF NOT pg_try_advisory_lock(hashtextextended('upload:' || upload_id::text, 0)) THEN
    RETURN QUERY SELECT false, NULL::uuid, NULL::bigint, NULL::text, NULL::bigint, NULL::text, NULL::bytea, NULL::jsonb, NULL::timestamptz;
    RETURN;
  END IF;
  IF guard_digest IS NOT NULL THEN
    PERFORM pg_advisory_lock_shared(hashtextextended('blob:' || guard_digest, 0));
  END IF;
  -- One row even when the upload is unknown (its columns null): the caller still holds the locks.
  RETURN QUERY
    SELECT true, u.id, u.repository_id, r.name, u."offset", u.hash_algorithm, u.hash_state, u.backend_state, u.created_at
    FROM (SELECT 1) AS one
    LEFT JOIN (uploads u JOIN repositories r ON r.id = u.repository_id)
      ON u.id = berth_lock_upload.upload_id AND r.name = berth_lock_upload.repository;
END
$$;
