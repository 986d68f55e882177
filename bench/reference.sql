-- bench/reference.sql: a straightforward PL/pgSQL implementation of the
-- identify rules of SPEC.md, written only as the benchmark's reference.
-- It is never installed by the extension: bench/run loads it into the
-- throwaway benchmark database, where sp_identify is compared with it.
--
-- It works on the extension's own tables (so the same C triggers normalise
-- and link rows for both) and uses the extension's SQL helpers for what
-- PL/pgSQL cannot do reasonably by itself (normalize_email, merge_patch).
-- One simplification, outside the benchmarked paths: a merge fills the
-- survivor's missing top-level properties only.

CREATE SCHEMA IF NOT EXISTS bench;

CREATE FUNCTION bench.pl_person_json(p simpleproduct.people, created boolean)
	RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
		'id', p.id, 'externalId', p.external_id, 'email', p.email,
		'name', p.name, 'properties', p.properties,
		'organization', (SELECT jsonb_build_object('id', o.id, 'name', o.name,
								'domain', o.domain)
						 FROM simpleproduct.organizations o
						 WHERE o.workspace_id = p.workspace_id
							AND o.id = p.organization_id),
		'lastSeenAt', p.last_seen_at, 'createdAt', p.created_at,
		'updatedAt', p.updated_at)
		|| CASE WHEN created IS NULL THEN '{}'::jsonb
			ELSE jsonb_build_object('created', created) END
$$;

CREATE FUNCTION bench.pl_identifiers(p simpleproduct.people)
	RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_build_object('id', p.id, 'externalId', p.external_id,
							  'email', p.email)
$$;

CREATE FUNCTION bench.pl_identify(input jsonb) RETURNS jsonb
	LANGUAGE plpgsql AS $$
DECLARE
	ws bigint := simpleproduct.current_workspace_id();
	ext text;
	em text;
	name_given boolean := input ? 'name';
	new_name text;
	props jsonb := input -> 'properties';
	a simpleproduct.people;
	b simpleproduct.people;
	p simpleproduct.people;
	nxt simpleproduct.people;
	have_a boolean := false;
	have_b boolean := false;
	moved jsonb;
	k1 bigint;
	k2 bigint;
BEGIN
	IF jsonb_typeof(input) <> 'object' THEN
		RAISE EXCEPTION 'the person must be a JSON object'
			USING ERRCODE = 'datatype_mismatch';
	END IF;

	-- externalId: a string or an integer, trimmed, never a junk value.
	CASE jsonb_typeof(input -> 'externalId')
		WHEN 'string' THEN ext := btrim(input ->> 'externalId');
		WHEN 'number' THEN ext := input ->> 'externalId';
		WHEN 'null' THEN ext := NULL;
		WHEN NULL THEN ext := NULL;
		ELSE RAISE EXCEPTION '"externalId" must be a string or an integer'
			USING ERRCODE = 'datatype_mismatch';
	END CASE;
	IF ext IN ('', 'null', 'undefined', 'None', 'NaN', '0', '-1',
			   '[object Object]') THEN
		RAISE EXCEPTION 'invalid externalId: "%"', ext
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF length(ext) > 255 THEN
		RAISE EXCEPTION 'externalId is too long'
			USING ERRCODE = 'string_data_right_truncation';
	END IF;

	CASE jsonb_typeof(input -> 'email')
		WHEN 'string' THEN
			em := simpleproduct.normalize_email(input ->> 'email');
		WHEN 'null' THEN em := NULL;
		WHEN NULL THEN em := NULL;
		ELSE RAISE EXCEPTION '"email" must be a string'
			USING ERRCODE = 'datatype_mismatch';
	END CASE;
	IF ext IS NULL AND em IS NULL THEN
		RAISE EXCEPTION 'a person needs an externalId or an email'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	IF name_given THEN
		IF jsonb_typeof(input -> 'name') NOT IN ('string', 'null') THEN
			RAISE EXCEPTION '"name" must be a string or null'
				USING ERRCODE = 'datatype_mismatch';
		END IF;
		new_name := input ->> 'name';
	END IF;
	IF jsonb_typeof(props) = 'null' THEN
		props := NULL;
	ELSIF props IS NOT NULL AND jsonb_typeof(props) <> 'object' THEN
		RAISE EXCEPTION '"properties" must be an object'
			USING ERRCODE = 'datatype_mismatch';
	END IF;

	-- Lock the identifiers in a fixed order, then find A and B.
	IF ext IS NOT NULL THEN
		k1 := hashtextextended('x' || ws || ':' || ext, 0);
	END IF;
	IF em IS NOT NULL THEN
		k2 := hashtextextended('e' || ws || ':' || em, 0);
	END IF;
	IF k1 IS NOT NULL AND k2 IS NOT NULL AND k2 < k1 THEN
		PERFORM pg_advisory_xact_lock(k2);
		PERFORM pg_advisory_xact_lock(k1);
	ELSE
		IF k1 IS NOT NULL THEN
			PERFORM pg_advisory_xact_lock(k1);
		END IF;
		IF k2 IS NOT NULL AND k2 IS DISTINCT FROM k1 THEN
			PERFORM pg_advisory_xact_lock(k2);
		END IF;
	END IF;

	IF ext IS NOT NULL THEN
		SELECT * INTO a FROM simpleproduct.people
			WHERE workspace_id = ws AND external_id = ext FOR UPDATE;
		have_a := FOUND;
	END IF;
	IF em IS NOT NULL THEN
		SELECT * INTO b FROM simpleproduct.people
			WHERE workspace_id = ws AND email = em FOR UPDATE;
		have_b := FOUND;
	END IF;

	IF have_a AND have_b AND a.id <> b.id THEN
		IF b.external_id IS NULL THEN
			-- Merge B into A.
			WITH m AS (UPDATE simpleproduct.feedback SET person_id = a.id
					   WHERE workspace_id = ws AND person_id = b.id
					   RETURNING id)
			SELECT coalesce(jsonb_agg(id), '[]') INTO moved FROM m;
			UPDATE simpleproduct.person_aliases SET person_id = a.id
				WHERE workspace_id = ws AND person_id = b.id;
			DELETE FROM simpleproduct.people
				WHERE workspace_id = ws AND id = b.id;
			INSERT INTO simpleproduct.person_aliases
				(workspace_id, alias_id, person_id) VALUES (ws, b.id, a.id);
			UPDATE simpleproduct.people SET
				email = em,
				name = CASE WHEN name_given THEN new_name
						ELSE coalesce(a.name, b.name) END,
				properties = simpleproduct.merge_patch(
					b.properties || a.properties, props),
				organization_id = CASE WHEN NOT a.organization_explicit
					AND b.organization_explicit THEN b.organization_id
					ELSE a.organization_id END,
				organization_explicit = a.organization_explicit
					OR b.organization_explicit,
				last_seen_at = now()
				WHERE workspace_id = ws AND id = a.id
				RETURNING * INTO p;
			INSERT INTO simpleproduct.identity_history (workspace_id,
					person_id, event, other_person_id, before, after)
				VALUES (ws, a.id, 'merge', b.id,
						jsonb_build_object('person', to_jsonb(a),
										   'merged', to_jsonb(b),
										   'feedback', moved),
						to_jsonb(p));
			RETURN bench.pl_person_json(p, false);
		END IF;

		-- B has another externalId: the email moves from B to A.
		IF (SELECT conflict_policy = 'reject' FROM simpleproduct.workspaces
			WHERE id = ws) THEN
			RAISE EXCEPTION 'email "%" belongs to person %', em, b.id
				USING ERRCODE = 'SP001';
		END IF;
		UPDATE simpleproduct.people SET email = NULL
			WHERE workspace_id = ws AND id = b.id RETURNING * INTO nxt;
		INSERT INTO simpleproduct.identity_history (workspace_id, person_id,
				event, other_person_id, before, after)
			VALUES (ws, b.id, 'email_moved', a.id, bench.pl_identifiers(b),
					bench.pl_identifiers(nxt));
		have_b := false;
	END IF;

	IF have_a THEN
		nxt := a;
		nxt.email := coalesce(em, a.email);
		IF name_given THEN
			nxt.name := new_name;
		END IF;
		IF props IS NOT NULL THEN
			nxt.properties := simpleproduct.merge_patch(a.properties, props);
		END IF;
		IF nxt.email IS NOT DISTINCT FROM a.email
			AND nxt.name IS NOT DISTINCT FROM a.name
			AND nxt.properties = a.properties
			AND a.last_seen_at > now() - interval '1 hour' THEN
			RETURN bench.pl_person_json(a, false);
		END IF;
		UPDATE simpleproduct.people SET email = nxt.email, name = nxt.name,
				properties = nxt.properties,
				last_seen_at = greatest(last_seen_at, now())
			WHERE workspace_id = ws AND id = a.id RETURNING * INTO p;
		IF p.email IS DISTINCT FROM a.email THEN
			INSERT INTO simpleproduct.identity_history (workspace_id,
					person_id, event, before, after)
				VALUES (ws, a.id, 'email_change', bench.pl_identifiers(a),
						bench.pl_identifiers(p));
		END IF;
		RETURN bench.pl_person_json(p, false);
	END IF;

	IF have_b AND ext IS NOT NULL AND b.external_id IS NOT NULL THEN
		-- A new person takes the email from B.
		IF (SELECT conflict_policy = 'reject' FROM simpleproduct.workspaces
			WHERE id = ws) THEN
			RAISE EXCEPTION 'email "%" belongs to person %', em, b.id
				USING ERRCODE = 'SP001';
		END IF;
		UPDATE simpleproduct.people SET email = NULL
			WHERE workspace_id = ws AND id = b.id RETURNING * INTO nxt;
		have_b := false;
	END IF;

	IF have_b THEN
		nxt := b;
		nxt.external_id := coalesce(ext, b.external_id);
		IF name_given THEN
			nxt.name := new_name;
		END IF;
		IF props IS NOT NULL THEN
			nxt.properties := simpleproduct.merge_patch(b.properties, props);
		END IF;
		IF nxt.external_id IS NOT DISTINCT FROM b.external_id
			AND nxt.name IS NOT DISTINCT FROM b.name
			AND nxt.properties = b.properties
			AND b.last_seen_at > now() - interval '1 hour' THEN
			RETURN bench.pl_person_json(b, false);
		END IF;
		UPDATE simpleproduct.people SET external_id = nxt.external_id,
				name = nxt.name, properties = nxt.properties,
				last_seen_at = greatest(last_seen_at, now())
			WHERE workspace_id = ws AND id = b.id RETURNING * INTO p;
		IF b.external_id IS NULL AND p.external_id IS NOT NULL THEN
			INSERT INTO simpleproduct.identity_history (workspace_id,
					person_id, event, before, after)
				VALUES (ws, b.id, 'claim', bench.pl_identifiers(b),
						bench.pl_identifiers(p));
		END IF;
		RETURN bench.pl_person_json(p, false);
	END IF;

	INSERT INTO simpleproduct.people (workspace_id, external_id, email, name,
			properties, last_seen_at)
		VALUES (ws, ext, em, new_name,
				coalesce(simpleproduct.merge_patch('{}', props), '{}'), now())
		RETURNING * INTO p;
	INSERT INTO simpleproduct.identity_history (workspace_id, person_id,
			event, after)
		VALUES (ws, p.id, 'create', bench.pl_identifiers(p));
	IF nxt.id IS NOT NULL THEN
		INSERT INTO simpleproduct.identity_history (workspace_id, person_id,
				event, other_person_id, before, after)
			VALUES (ws, nxt.id, 'email_moved', p.id, bench.pl_identifiers(b),
					bench.pl_identifiers(nxt));
	END IF;
	RETURN bench.pl_person_json(p, true);
END
$$;
