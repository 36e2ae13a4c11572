-- The keys of a batched lookup (src/services/lookup-batcher.ts): position from 1, repository name,
-- reference (tag or digest). A statement that takes its keys from unnest($1, $2) directly is planned
-- anew on every execution: with the array's value the planner knows its length (one key, say), its
-- generic plan assumes ten, so the cached generic plan never looks cheaper and is never used; the
-- blob link lookup then cost PostgreSQL ~560 µs per execution instead of ~80. Behind a function
-- whose row estimate is fixed, both plans cost the same and the generic one is kept. ROWS 1 steers
-- the planner to index lookups, which is what a batch of point lookups is.
CREATE FUNCTION berth_lookup_keys(repositories text[], refs text[])
RETURNS TABLE (i bigint, repository text, reference text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE ROWS 1
AS $$
BEGIN
  RETURN QUERY SELECT k.i, k.repository, k.reference
    FROM unnest(repositories, refs) WITH ORDINALITY AS k(repository, reference, i);
END
$$;
