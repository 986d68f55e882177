-- Helpers shared by the regression tests (they run in one database, in
-- name order).  shape() masks the values that change from run to run (ids
-- and timestamps) so that expected output can show whole objects; err()
-- shows the SQLSTATE and message of a call that fails.
CREATE SCHEMA t;

CREATE FUNCTION t.shape(j jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	result jsonb := '{}';
	k text;
	v jsonb;
BEGIN
	IF jsonb_typeof(j) IS DISTINCT FROM 'object' THEN
		RETURN j;
	END IF;
	FOR k, v IN SELECT * FROM jsonb_each(j) LOOP
		IF k IN ('id', 'createdAt', 'updatedAt', 'lastSeenAt')
			AND jsonb_typeof(v) = 'string' THEN
			v := '"*"';
		ELSIF k <> 'properties' AND k <> 'metadata' THEN
			v := t.shape(v);
		END IF;
		result := result || jsonb_build_object(k, v);
	END LOOP;
	RETURN result;
END $$;

CREATE FUNCTION t.err(call text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE call;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- The extension is installed where the control file says, with its
-- default workspace.
SELECT extname, extversion, extrelocatable, nspname
FROM pg_extension JOIN pg_namespace n ON n.oid = extnamespace
WHERE extname = 'simpleproduct';
SELECT id, name, conflict_policy FROM simpleproduct.workspaces;
SELECT simpleproduct.current_workspace_id();
