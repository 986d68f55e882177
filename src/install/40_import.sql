-- simpleproduct install script, part 5: bulk import of existing customers.
--
-- Stage the people in a table or view with a column "line" (bigint or
-- integer: the order to apply them in) and a column "person" (jsonb, or text
-- holding JSON: what sp_identify takes), then
--
--     SELECT * FROM simpleproduct.sp_import('my_staged_people');
--
-- The result equals identifying the rows one by one in line order.  Plain
-- creates and updates are applied set-based; rows that share an identifier
-- or a person with another row, and claims, email changes, email moves and
-- merges, are resolved one by one.  Each row's outcome is returned (and a
-- bad row is reported, not fatal); progress goes out as NOTICEs every
-- progress_every rows.  The people table is locked against other writers
-- until the transaction ends.  bin/simpleproduct-import stages a CSV or
-- NDJSON file and calls this in batches of first_line..last_line.
CREATE FUNCTION @extschema@.sp_import(staged regclass,
									  progress_every integer DEFAULT 10000,
									  first_line bigint DEFAULT NULL,
									  last_line bigint DEFAULT NULL)
	RETURNS TABLE (line bigint, person_id uuid, created boolean,
				   error_code text, error_message text)
	AS 'MODULE_PATHNAME', 'sp_import'
	LANGUAGE C VOLATILE;

-- Organizations, staged the same way with a column "organization" (what
-- sp_upsert_org takes), are created or updated one by one; there are few
-- of them next to people, and importing them first lets the linking
-- triggers link the people as they arrive.
CREATE FUNCTION @extschema@.sp_import_organizations(staged regclass)
	RETURNS TABLE (line bigint, organization_id uuid, created boolean,
				   error_code text, error_message text)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	staged_row record;
	organization jsonb;
BEGIN
	FOR staged_row IN EXECUTE format(
		'SELECT s.line::bigint AS line, s.organization::text AS organization'
		' FROM %s s ORDER BY s.line', staged)
	LOOP
		line := staged_row.line;
		BEGIN
			organization := @extschema@.sp_upsert_org(
				staged_row.organization::jsonb);
			organization_id := (organization ->> 'id')::uuid;
			created := (organization ->> 'created')::boolean;
			error_code := NULL;
			error_message := NULL;
		EXCEPTION
			WHEN data_exception OR integrity_constraint_violation
				OR datatype_mismatch THEN
				GET STACKED DIAGNOSTICS error_code = RETURNED_SQLSTATE,
					error_message = MESSAGE_TEXT;
				organization_id := NULL;
				created := NULL;
		END;
		RETURN NEXT;
	END LOOP;
END
$$;
