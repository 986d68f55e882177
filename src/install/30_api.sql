-- simpleproduct install script, part 4: the REST API's side in the database.
--
-- The HTTP server (src/server) makes exactly one statement per request, such
-- as
--
--     SELECT status, id, result FROM simpleproduct.api_post_person($1, $2)
--
-- and that statement both checks the API key and does the work.  The
-- api_* functions check the key first (api_authenticate), which sets the
-- setting simpleproduct.workspace to the key's workspace for the rest of the
-- transaction only; then they call the core function.  Tenancy does not rest
-- on the server, nor on the core functions alone: every table keyed by
-- workspace has a row-level security policy, and the api_* functions run as a
-- "definer" role that is neither a superuser nor the tables' owner, so the
-- policies apply to it.  The server itself logs in as a role that may only
-- execute the api_* functions: it can read no table, and setting the
-- workspace itself gains it nothing, because every api_* function sets the
-- workspace from the key before it reads anything.
--
-- Roles are cluster-wide, so this script creates none.  An administrator
-- makes two roles and hands them their rights once per database:
--
--     CREATE ROLE simpleproduct_definer NOLOGIN;
--     CREATE ROLE simpleproduct_api LOGIN PASSWORD '...';
--     SELECT simpleproduct.grant_api_access('simpleproduct_api',
--                                           'simpleproduct_definer');
--
-- Workspaces and keys are managed from psql by the extension's owner:
--
--     SELECT simpleproduct.create_workspace('acme');
--     SELECT simpleproduct.create_api_key('acme', 'production');  -- shown once
--     SELECT * FROM simpleproduct.list_api_keys('acme');
--     SELECT simpleproduct.revoke_api_key(1);

-- API keys.  The key itself ("sp_" and 64 hexadecimal digits drawn from
-- gen_random_uuid(), that is from pg_strong_random) is shown once by
-- create_api_key and never stored: only its SHA-256 is.  prefix keeps the
-- first characters so that a listed key can be recognised.
CREATE TABLE @extschema@.api_keys (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	workspace_id bigint NOT NULL
		REFERENCES @extschema@.workspaces (id) ON DELETE CASCADE,
	prefix text NOT NULL,
	key_hash bytea NOT NULL UNIQUE,
	label text,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	revoked_at timestamptz
);
CREATE INDEX api_keys_workspace_idx ON @extschema@.api_keys (workspace_id);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.api_keys', '');
SELECT pg_catalog.pg_extension_config_dump(
	pg_catalog.pg_get_serial_sequence('@extschema@.api_keys', 'id')::regclass,
	'');

-- Row-level security: a session sees and writes only the rows of its
-- current workspace.  The policies bind every role but superusers and the
-- tables' owner, which is how psql administration and single-tenant
-- backends running as the owner keep working unchanged.  Every table of the
-- schema with a workspace_id column gets the same policy, so that a table
-- the core adds later is covered without a change here.
DO $$
DECLARE
	keyed record;
BEGIN
	FOR keyed IN
		SELECT n.nspname, c.relname
		FROM pg_catalog.pg_class c
			JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
		WHERE n.nspname = '@extschema@' AND c.relkind IN ('r', 'p')
			AND a.attname = 'workspace_id' AND NOT a.attisdropped
		ORDER BY c.relname
	LOOP
		EXECUTE pg_catalog.format(
			'ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY',
			keyed.nspname, keyed.relname);
		EXECUTE pg_catalog.format(
			'CREATE POLICY workspace_isolation ON %I.%I'
			' USING (workspace_id OPERATOR(pg_catalog.=)'
			' @extschema@.current_workspace_id())'
			' WITH CHECK (workspace_id OPERATOR(pg_catalog.=)'
			' @extschema@.current_workspace_id())',
			keyed.nspname, keyed.relname);
	END LOOP;
END
$$;

-- The workspaces table is filtered by name, not through
-- current_workspace_id(): that function reads this very table to turn the
-- setting into an id, and a policy calling it would recurse.
ALTER TABLE @extschema@.workspaces ENABLE ROW LEVEL SECURITY;
CREATE POLICY workspace_isolation ON @extschema@.workspaces
	USING (name OPERATOR(pg_catalog.=) COALESCE(
		NULLIF(pg_catalog.current_setting('simpleproduct.workspace', true),
			   ''),
		'default'));

-- Create a workspace (a tenant) and return its id.  conflict_policy is
-- 'move' (an email claimed by another person moves to them) or 'reject'
-- (the conflict is an error, HTTP 409).
CREATE FUNCTION @extschema@.create_workspace(name text,
											 conflict_policy text DEFAULT 'move')
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	workspace_id bigint;
BEGIN
	IF $1 IS NULL OR $2 IS NULL THEN
		RAISE EXCEPTION 'a workspace needs a name and a conflict policy'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'The conflict policy is ''move'' or ''reject''.';
	END IF;
	INSERT INTO @extschema@.workspaces (name, conflict_policy)
	VALUES ($1, $2)
	RETURNING id INTO workspace_id;
	RETURN workspace_id;
END
$$;

-- Create an API key for a workspace and return it.  This is the only time
-- the key is ever shown: only its hash is kept.
CREATE FUNCTION @extschema@.create_api_key(workspace text,
										   label text DEFAULT NULL)
	RETURNS text
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	target_workspace_id bigint;
	api_key text;
BEGIN
	SELECT w.id INTO target_workspace_id
	FROM @extschema@.workspaces w
	WHERE w.name = workspace;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'workspace "%" does not exist', workspace
			USING ERRCODE = 'no_data_found';
	END IF;

	api_key := 'sp_'
		|| replace(gen_random_uuid()::text, '-', '')
		|| replace(gen_random_uuid()::text, '-', '');

	INSERT INTO @extschema@.api_keys (workspace_id, prefix, key_hash, label)
	VALUES (target_workspace_id, substr(api_key, 1, 11),
			sha256(convert_to(api_key, 'UTF8')), label);

	RETURN api_key;
END
$$;

-- The keys of a workspace, revoked ones included; never the keys
-- themselves, which are not stored.
CREATE FUNCTION @extschema@.list_api_keys(workspace text)
	RETURNS TABLE (id bigint, prefix text, label text,
				   created_at timestamptz, revoked_at timestamptz)
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT k.id, k.prefix, k.label, k.created_at, k.revoked_at
	FROM @extschema@.api_keys k
		JOIN @extschema@.workspaces w ON w.id = k.workspace_id
	WHERE w.name = $1
	ORDER BY k.id
$$;

-- Revoke a key by its id (as list_api_keys shows it).  The next request
-- made with it fails: keys are checked on every request, never cached.
-- Returns false when the key was already revoked.
CREATE FUNCTION @extschema@.revoke_api_key(key_id bigint)
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM @extschema@.api_keys k WHERE k.id = key_id) THEN
		RAISE EXCEPTION 'api key % does not exist', key_id
			USING ERRCODE = 'no_data_found';
	END IF;

	UPDATE @extschema@.api_keys k
	SET revoked_at = now()
	WHERE k.id = key_id AND k.revoked_at IS NULL;
	RETURN FOUND;
END
$$;

REVOKE ALL ON FUNCTION @extschema@.create_workspace(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.create_api_key(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.list_api_keys(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.revoke_api_key(bigint) FROM PUBLIC;

-- Check an API key and make its workspace the current one until the end of
-- the transaction.  SECURITY DEFINER (the extension's owner) because it reads
-- the keys of every workspace; the caller learns nothing but the workspace
-- id.  A missing, unknown or revoked key is SQLSTATE 28000 (HTTP 401).
CREATE FUNCTION @extschema@.api_authenticate(api_key text)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	key_workspace_id bigint;
	key_workspace_name text;
BEGIN
	IF api_key IS NULL OR left(api_key, 3) <> 'sp_' THEN
		RAISE EXCEPTION 'invalid api key'
			USING ERRCODE = 'invalid_authorization_specification';
	END IF;

	SELECT w.id, w.name INTO key_workspace_id, key_workspace_name
	FROM @extschema@.api_keys k
		JOIN @extschema@.workspaces w ON w.id = k.workspace_id
	WHERE k.key_hash = sha256(convert_to(api_key, 'UTF8'))
		AND k.revoked_at IS NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'invalid api key'
			USING ERRCODE = 'invalid_authorization_specification';
	END IF;

	PERFORM set_config('simpleproduct.workspace', key_workspace_name, true);
	RETURN key_workspace_id;
END
$$;

REVOKE ALL ON FUNCTION @extschema@.api_authenticate(text) FROM PUBLIC;

-- Whether a workspace refuses identity conflicts (conflict_policy
-- 'reject').  Only then do api_post_person and api_post_feedback catch
-- SQLSTATE SP001 to answer 409 with the people involved: catching needs a
-- subtransaction, which a 'move' workspace, where no email move is ever
-- refused, should not pay for on every call.
CREATE FUNCTION @extschema@.api_rejects_conflicts(workspace_id bigint)
	RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT COALESCE((SELECT w.conflict_policy = 'reject'
					 FROM @extschema@.workspaces w
					 WHERE w.id = $1), false)
$$;

-- The HTTP 409 body of an identity conflict (SQLSTATE SP001) raised for
-- request under the 'reject' policy:
--
--     {"error": {"code": "identity_conflict", "message": "...",
--                "people": ["<id holding the email>", "<id it would move to>"]}}
--
-- The core's message reads 'email "E" belongs to person B, who has
-- externalId "X"; it would move to A with externalId "Y"'.  B is read from
-- the message, where it follows the quoted email (an email never holds a
-- quote, so this is unambiguous).  A is the person holding the request's
-- externalId, looked up with the core's own normalisation rather than read
-- from the message, since an externalId may hold any text; when the email
-- would go to a new person, A does not exist and people has B alone.  A
-- conflict of another kind (a domain owned by another organization) has
-- no people.
CREATE FUNCTION @extschema@.api_conflict_error(message text, request jsonb)
	RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	holder_id text;
	receiver jsonb;
	people jsonb := '[]';
	error jsonb;
BEGIN
	holder_id := substring(message FROM
		'^email "[^"]*" belongs to person ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}), ');

	error := jsonb_build_object('code', 'identity_conflict',
								'message', message);
	IF holder_id IS NOT NULL THEN
		people := jsonb_build_array(holder_id);
		IF jsonb_typeof(request) = 'object' AND request ? 'externalId' THEN
			receiver := @extschema@.sp_find_person(
				jsonb_build_object('externalId', request->'externalId'));
		END IF;
		IF receiver IS NOT NULL AND receiver->>'id' <> holder_id THEN
			people := people || jsonb_build_array(receiver->>'id');
		END IF;
		error := error || jsonb_build_object('people', people);
	END IF;
	RETURN jsonb_build_object('error', error)::text;
END
$$;

REVOKE ALL ON FUNCTION @extschema@.api_rejects_conflicts(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.api_conflict_error(text, jsonb)
	FROM PUBLIC;

-- POST /api/v1/people: create or update a person.  status is 201 when the
-- person was created, 200 when updated; id is the person's id (for the
-- Location header); body is the person.  body arrives as text so that
-- malformed JSON is reported (22P02, HTTP 400) after the key is checked.
CREATE FUNCTION @extschema@.api_post_person(api_key text, body text,
											OUT status integer, OUT id text,
											OUT result text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	workspace_id bigint;
	request jsonb;
	person jsonb;
BEGIN
	workspace_id := @extschema@.api_authenticate(api_key);
	request := body::jsonb;
	IF NOT @extschema@.api_rejects_conflicts(workspace_id) THEN
		person := @extschema@.sp_identify(request);
	ELSE
		BEGIN
			person := @extschema@.sp_identify(request);
		EXCEPTION WHEN SQLSTATE 'SP001' THEN
			status := 409;
			result := @extschema@.api_conflict_error(SQLERRM, request);
			RETURN;
		END;
	END IF;
	status := CASE WHEN (person->>'created')::boolean THEN 201 ELSE 200 END;
	id := person->>'id';
	result := (person - 'created')::text;
END
$$;

-- GET /api/v1/people?email=, ?externalId= and /api/v1/people/:id.  field is
-- "id", "email" or "externalId".  No such person, or a malformed id, is
-- SQLSTATE P0002 (HTTP 404), as is another workspace's person: row-level
-- security hides it.
CREATE FUNCTION @extschema@.api_get_person(api_key text, field text,
										   value text,
										   OUT status integer, OUT id text,
										   OUT result text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	person jsonb;
BEGIN
	PERFORM @extschema@.api_authenticate(api_key);
	IF field NOT IN ('id', 'email', 'externalId') THEN
		RAISE EXCEPTION 'unknown lookup field "%"', field
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	IF field <> 'id'
		OR value ~* '^[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}$' THEN
		person := @extschema@.sp_find_person(jsonb_build_object(field, value));
	END IF;
	IF person IS NULL THEN
		RAISE EXCEPTION 'person not found' USING ERRCODE = 'no_data_found';
	END IF;

	status := 200;
	id := person->>'id';
	result := person::text;
END
$$;

-- DELETE /api/v1/people/:id: erase the person, their history and
-- identifiers (sp_erase_person).  Their feedback is kept without the link,
-- or deleted with delete_feedback; suppress keeps the identifiers as salted
-- hashes so that identifying with them again is refused (SQLSTATE SP002,
-- HTTP 409) until sp_unsuppress.  status is 200 and body what was done:
-- {"id", "erased": true, "feedbackDeleted" | "feedbackUnlinked": n,
-- "suppressed"}.  A merged person's id erases the person it was merged
-- into, as it answers as them everywhere else.  No such person, a
-- malformed id, or another workspace's person is P0002 (HTTP 404).
CREATE FUNCTION @extschema@.api_delete_person(api_key text, person_id text,
											  delete_feedback boolean,
											  suppress boolean,
											  OUT status integer,
											  OUT id text,
											  OUT result text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	erased jsonb;
BEGIN
	PERFORM @extschema@.api_authenticate(api_key);
	IF person_id IS NULL
		OR person_id !~* '^[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}$' THEN
		RAISE EXCEPTION 'person not found' USING ERRCODE = 'no_data_found';
	END IF;

	erased := @extschema@.sp_erase_person(jsonb_build_object(
		'id', person_id,
		'deleteFeedback', COALESCE(delete_feedback, false),
		'suppress', COALESCE(suppress, false)));

	status := 200;
	id := erased->>'id';
	result := erased::text;
END
$$;

-- POST /api/v1/organizations: create (201) or update (200) an organization.
CREATE FUNCTION @extschema@.api_post_organization(api_key text, body text,
												  OUT status integer,
												  OUT id text,
												  OUT result text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	organization jsonb;
BEGIN
	PERFORM @extschema@.api_authenticate(api_key);
	organization := @extschema@.sp_upsert_org(body::jsonb);
	status := CASE WHEN (organization->>'created')::boolean THEN 201
			  ELSE 200 END;
	id := organization->>'id';
	result := (organization - 'created')::text;
END
$$;

-- GET /api/v1/organizations/:id: the organization, or P0002 (HTTP 404).
CREATE FUNCTION @extschema@.api_get_organization(api_key text,
												 organization_id text,
												 OUT status integer,
												 OUT id text,
												 OUT result text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	organization jsonb;
BEGIN
	PERFORM @extschema@.api_authenticate(api_key);
	IF organization_id ~* '^[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}$' THEN
		organization := @extschema@.sp_find_org(
			jsonb_build_object('id', organization_id));
	END IF;
	IF organization IS NULL THEN
		RAISE EXCEPTION 'organization not found'
			USING ERRCODE = 'no_data_found';
	END IF;

	status := 200;
	id := organization->>'id';
	result := organization::text;
END
$$;

-- POST /api/v1/feedback: store feedback (always 201) with its person.
CREATE FUNCTION @extschema@.api_post_feedback(api_key text, body text,
											  OUT status integer,
											  OUT id text,
											  OUT result text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	workspace_id bigint;
	request jsonb;
	feedback jsonb;
BEGIN
	workspace_id := @extschema@.api_authenticate(api_key);
	request := body::jsonb;
	IF NOT @extschema@.api_rejects_conflicts(workspace_id) THEN
		feedback := @extschema@.sp_feedback(request);
	ELSE
		BEGIN
			feedback := @extschema@.sp_feedback(request);
		EXCEPTION WHEN SQLSTATE 'SP001' THEN
			status := 409;
			result := @extschema@.api_conflict_error(SQLERRM, request);
			RETURN;
		END;
	END IF;
	status := 201;
	id := feedback->>'id';
	result := (feedback - 'created')::text;
END
$$;

-- GET /api/v1/feedback/:id: the feedback as POST answered it, with its
-- person as they are now (null when it has none, or they were erased), or
-- P0002 (HTTP 404) for no such feedback, a malformed id, or another
-- workspace's feedback, which row-level security hides.
CREATE FUNCTION @extschema@.api_get_feedback(api_key text, feedback_id text,
											 OUT status integer,
											 OUT id text,
											 OUT result text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	feedback @extschema@.feedback%ROWTYPE;
BEGIN
	PERFORM @extschema@.api_authenticate(api_key);
	IF feedback_id ~* '^[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}$' THEN
		SELECT f.*
			INTO feedback
			FROM @extschema@.feedback f
			WHERE f.workspace_id = @extschema@.current_workspace_id()
				AND f.id = feedback_id::uuid;
	END IF;
	IF feedback.id IS NULL THEN
		RAISE EXCEPTION 'feedback not found' USING ERRCODE = 'no_data_found';
	END IF;

	status := 200;
	id := feedback.id::text;
	result := jsonb_build_object(
		'id', feedback.id,
		'title', feedback.title,
		'content', feedback.content,
		'source', feedback.source,
		'metadata', feedback.metadata,
		'createdAt', feedback.created_at,
		'updatedAt', feedback.updated_at,
		'person', CASE WHEN feedback.person_id IS NOT NULL THEN
			@extschema@.sp_find_person(
				jsonb_build_object('id', feedback.person_id))
			END)::text;
END
$$;

REVOKE ALL ON FUNCTION @extschema@.api_post_person(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.api_get_person(text, text, text)
	FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.api_delete_person(text, text, boolean,
														boolean)
	FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.api_post_organization(text, text)
	FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.api_get_organization(text, text)
	FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.api_post_feedback(text, text)
	FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.api_get_feedback(text, text)
	FROM PUBLIC;

-- Give login_role (the role the HTTP server logs in as) the right to call
-- the API, and nothing else; definer_role becomes the owner of the api_*
-- functions and receives the data rights they need, bounded by row-level
-- security.  Neither may be a superuser or bypass row-level security, or
-- the policies would not apply.  Run it as a superuser, once per database
-- (and again after a dump is restored: ownership of extension functions is
-- not dumped).
CREATE FUNCTION @extschema@.grant_api_access(login_role regrole,
											 definer_role regrole)
	RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	api_function text;
	data_table record;
BEGIN
	IF EXISTS (SELECT FROM pg_roles r
			   WHERE r.oid IN (login_role, definer_role)
				 AND (r.rolsuper OR r.rolbypassrls)) THEN
		RAISE EXCEPTION 'API roles must not be superusers or bypass row-level security'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Row-level security, which keeps workspaces apart, does not apply to such roles.';
	END IF;
	IF login_role = definer_role THEN
		RAISE EXCEPTION 'the login role and the definer role must differ'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The login role must not own the functions it calls, nor read any table.';
	END IF;

	EXECUTE format('GRANT USAGE ON SCHEMA @extschema@ TO %s, %s',
				   login_role, definer_role);
	-- The data rights the API functions need, bounded by row-level
	-- security: every table keyed by workspace; the others (workspaces, and
	-- any lookup table the core may add) read-only; never the API keys.
	FOR data_table IN
		SELECT c.relname,
			EXISTS (SELECT FROM pg_attribute a
					WHERE a.attrelid = c.oid AND a.attname = 'workspace_id'
						AND NOT a.attisdropped) AS keyed
		FROM pg_class c
		WHERE c.relnamespace = '@extschema@'::regnamespace
			AND c.relkind IN ('r', 'p')
			AND c.relname NOT IN ('api_keys', 'workspaces')
		ORDER BY c.relname
	LOOP
		EXECUTE format('GRANT %s ON @extschema@.%I TO %s',
					   CASE WHEN data_table.keyed
					   THEN 'SELECT, INSERT, UPDATE, DELETE'
					   ELSE 'SELECT' END,
					   data_table.relname, definer_role);
	END LOOP;
	EXECUTE format('GRANT SELECT ON @extschema@.workspaces TO %s',
				   definer_role);
	EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA @extschema@ TO %s',
				   definer_role);
	EXECUTE format('GRANT EXECUTE ON FUNCTION'
				   ' @extschema@.api_authenticate(text),'
				   ' @extschema@.sp_identify(jsonb),'
				   ' @extschema@.sp_feedback(jsonb),'
				   ' @extschema@.sp_upsert_org(jsonb),'
				   ' @extschema@.sp_find_person(jsonb),'
				   ' @extschema@.sp_find_org(jsonb),'
				   ' @extschema@.sp_erase_person(jsonb),'
				   ' @extschema@.api_rejects_conflicts(bigint),'
				   ' @extschema@.api_conflict_error(text, jsonb),'
				   ' @extschema@.current_workspace_id() TO %s',
				   definer_role);

	FOREACH api_function IN ARRAY ARRAY[
		'@extschema@.api_post_person(text, text)',
		'@extschema@.api_get_person(text, text, text)',
		'@extschema@.api_delete_person(text, text, boolean, boolean)',
		'@extschema@.api_post_organization(text, text)',
		'@extschema@.api_get_organization(text, text)',
		'@extschema@.api_post_feedback(text, text)',
		'@extschema@.api_get_feedback(text, text)']
	LOOP
		EXECUTE format('ALTER FUNCTION %s OWNER TO %s',
					   api_function, definer_role);
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC',
					   api_function);
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s',
					   api_function, login_role);
	END LOOP;
END
$$;

REVOKE ALL ON FUNCTION @extschema@.grant_api_access(regrole, regrole)
	FROM PUBLIC;
