-- Bulk import (sp_import): the result equals identifying the same rows one
-- by one, in line order.  Two workspaces start from the same people; one
-- gets the rows through sp_identify, one row at a time, the other through
-- sp_import; then their people, links, feedback, aliases and identity
-- history are compared.  A second pair does the same under the "reject"
-- conflict policy.

SELECT simpleproduct.create_workspace('import_one') > 0 AS made,
	simpleproduct.create_workspace('import_bulk') > 0 AS made,
	simpleproduct.create_workspace('import_one_r', 'reject') > 0 AS made,
	simpleproduct.create_workspace('import_bulk_r', 'reject') > 0 AS made;

-- The starting state, the same in the four workspaces.
CREATE TABLE t.import_start (line bigint, person jsonb);
INSERT INTO t.import_start VALUES
	(1, '{"externalId": "keep", "email": "keep@acme-import.com", "name": "Keep"}'),
	(2, '{"email": "claimme@acme-import.com", "name": "Claim me"}'),
	(3, '{"externalId": "chg", "email": "old@acme-import.com"}'),
	(4, '{"externalId": "holder", "email": "moving@acme-import.com"}'),
	(5, '{"externalId": "winner", "email": "winner@acme-import.com"}'),
	(6, '{"externalId": "loser", "email": "taken@acme-import.com"}'),
	(7, '{"externalId": "survivor", "email": "survivor@acme-import.com", "properties": {"a": 1}}'),
	(8, '{"email": "merged@acme-import.com", "name": "Merged", "properties": {"b": 2}}'),
	(9, '{"externalId": "twice", "email": "twice@acme-import.com", "properties": {"x": 1}}'),
	(10, '{"externalId": "quiet", "email": "quiet@acme-import.com", "name": "Quiet"}'),
	(11, '{"externalId": "erased", "email": "erased@acme-import.com"}');

CREATE FUNCTION t.import_prepare(workspace text) RETURNS void
	LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	PERFORM set_config('simpleproduct.workspace', workspace, true);
	PERFORM simpleproduct.sp_upsert_org(
		'{"domain": "acme-import.com", "name": "Acme Import"}');
	FOR r IN SELECT * FROM t.import_start ORDER BY line LOOP
		PERFORM simpleproduct.sp_identify(r.person);
	END LOOP;
	PERFORM simpleproduct.sp_feedback(
		'{"email": "merged@acme-import.com", "content": "Merged feedback"}');
	-- erased, with its identifiers suppressed
	PERFORM simpleproduct.sp_erase_person(jsonb_build_object(
		'id', simpleproduct.sp_find_person('{"externalId": "erased"}') ->> 'id',
		'suppress', true));
END $$;

SELECT t.import_prepare(w) FROM unnest(ARRAY['import_one', 'import_bulk',
	'import_one_r', 'import_bulk_r']) AS w;

-- The rows to load: every case of the identity table, rows that touch the
-- same person or identifier more than once, and bad rows.  person is text,
-- as a raw NDJSON line would be, so that malformed JSON is a row error.
CREATE TABLE t.import_rows (line bigint, person text);
INSERT INTO t.import_rows VALUES
	(1, '{"externalId": "new1", "email": " New1@ACME-import.com ", "name": "New 1", "properties": {"plan": "free", "gone": null}}'),
	(2, '{"externalId": "keep", "properties": {"plan": "pro"}}'),
	(3, '{"email": "KEEP@acme-import.com", "name": "Keep Again"}'),
	(4, '{"externalId": "claimer", "email": "claimme@acme-import.com"}'),
	(5, '{"externalId": "chg", "email": "new@acme-import.com"}'),
	(6, '{"externalId": "newcomer", "email": "moving@acme-import.com"}'),
	(7, '{"externalId": "winner", "email": "taken@acme-import.com"}'),
	(8, '{"externalId": "survivor", "email": "merged@acme-import.com"}'),
	(9, '{"externalId": "dup", "email": "dup1@acme-import.com"}'),
	(10, '{"externalId": "dup", "email": "dup2@acme-import.com"}'),
	(11, '{"email": "solo@gmail.com", "name": "Solo"}'),
	(12, '{"externalId": 123, "name": "Numeric"}'),
	(13, '{"externalId": "0"}'),
	(14, '{"email": "not-an-email"}'),
	(15, '{"name": "nobody"}'),
	(16, '[1, 2]'),
	(17, '{"email": '),
	(18, '{"externalId": "twice", "properties": {"x": null, "y": {"z": 1}}}'),
	(19, '{"externalId": "new2", "email": "new2@eu.acme-import.com"}'),
	(20, '{"externalId": "keep", "name": null}'),
	(21, '{"externalId": "twice", "properties": "not an object"}'),
	(22, '{"externalId": "quiet", "email": "quiet@acme-import.com", "name": "Quiet"}'),
	(23, '{"externalId": "123", "email": "numeric@acme-import.com"}'),
	(24, NULL),
	(25, '{"externalId": "erased", "name": "Back"}'),
	(26, '{"email": "erased@acme-import.com"}'),
	(27, '{"externalId": "setonce", "setOnce": {"first": "a"}, "properties": {"p": 1}}'),
	(28, '{"externalId": "quiet", "setOnce": {"first": "b"}}'),
	(29, '{"externalId": "orgd", "email": "orgd@gmail.com", "organization": {"domain": "other-import.com"}}');

-- One by one: each row in its own subtransaction, as separate calls would
-- be; the outcome of each row is kept.  A null row identifies nobody
-- (sp_identify is strict); the import reports it as an error (22004).
CREATE TABLE t.import_one_by_one (workspace text, line bigint,
	created boolean, error_code text);
CREATE FUNCTION t.import_one_by_one(workspace text) RETURNS void
	LANGUAGE plpgsql AS $$
DECLARE
	r record;
	result jsonb;
BEGIN
	PERFORM set_config('simpleproduct.workspace', workspace, true);
	FOR r IN SELECT * FROM t.import_rows ORDER BY line LOOP
		IF r.person IS NULL THEN
			INSERT INTO t.import_one_by_one
				VALUES (workspace, r.line, NULL, '22004');
			CONTINUE;
		END IF;
		BEGIN
			result := simpleproduct.sp_identify(r.person::jsonb);
			INSERT INTO t.import_one_by_one
				VALUES (workspace, r.line, (result ->> 'created')::boolean, NULL);
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO t.import_one_by_one
				VALUES (workspace, r.line, NULL, SQLSTATE);
		END;
	END LOOP;
END $$;
SELECT t.import_one_by_one('import_one');
SELECT t.import_one_by_one('import_one_r');

-- In bulk.
CREATE TABLE t.import_bulk (workspace text, line bigint, created boolean,
	error_code text, error_message text, has_person boolean);
SET simpleproduct.workspace = 'import_bulk';
INSERT INTO t.import_bulk
	SELECT 'import_bulk', line, created, error_code, error_message,
		person_id IS NOT NULL
	FROM simpleproduct.sp_import('t.import_rows', 0);
SET simpleproduct.workspace = 'import_bulk_r';
INSERT INTO t.import_bulk
	SELECT 'import_bulk_r', line, created, error_code, error_message,
		person_id IS NOT NULL
	FROM simpleproduct.sp_import('t.import_rows', 0);
RESET simpleproduct.workspace;

-- What each row did, in bulk: created, updated, or its error.
SELECT line, created, error_code, error_message, has_person
FROM t.import_bulk WHERE workspace = 'import_bulk' ORDER BY line;

-- The same outcome row by row as one by one (no rows: no difference).
SELECT o.workspace, o.line, o.created, o.error_code, b.created, b.error_code
FROM t.import_one_by_one o
	JOIN t.import_bulk b ON b.line = o.line
		AND b.workspace = replace(o.workspace, 'one', 'bulk')
WHERE o.created IS DISTINCT FROM b.created
	OR o.error_code IS DISTINCT FROM b.error_code;

-- Under "reject", the email moves are row errors.
SELECT line, error_code FROM t.import_bulk
WHERE workspace = 'import_bulk_r' AND error_code = 'SP001' ORDER BY line;

-- A person's state, and a label for an id that does not depend on the
-- random ids: the identifiers the person was created with.
CREATE FUNCTION t.import_label(workspace bigint, person uuid) RETURNS text
	LANGUAGE sql AS $$
	SELECT coalesce(h.after ->> 'externalId', '-') || '/'
		|| coalesce(h.after ->> 'email', '-')
	FROM simpleproduct.identity_history h
	WHERE h.workspace_id = workspace AND h.person_id = person
		AND h.event = 'create'
$$;
CREATE FUNCTION t.import_state(workspace text)
	RETURNS TABLE (what text, item text) LANGUAGE sql AS $$
	WITH ws AS (SELECT id FROM simpleproduct.workspaces WHERE name = workspace)
	SELECT 'person', concat_ws(' | ', p.external_id, p.email, p.name,
		p.properties::text, o.domain, p.organization_explicit,
		p.last_seen_at IS NOT NULL)
	FROM simpleproduct.people p JOIN ws ON p.workspace_id = ws.id
		LEFT JOIN simpleproduct.organizations o
			ON o.workspace_id = p.workspace_id AND o.id = p.organization_id
	UNION ALL
	SELECT 'feedback', f.content || ' -> '
		|| coalesce(t.import_label(ws.id, f.person_id), 'nobody')
	FROM simpleproduct.feedback f JOIN ws ON f.workspace_id = ws.id
	UNION ALL
	SELECT 'alias', t.import_label(ws.id, a.alias_id) || ' -> '
		|| t.import_label(ws.id, a.person_id)
	FROM simpleproduct.person_aliases a JOIN ws ON a.workspace_id = ws.id
	UNION ALL
	SELECT 'history', concat_ws(' | ', h.event,
		t.import_label(ws.id, h.person_id),
		t.import_label(ws.id, h.other_person_id),
		CASE WHEN h.event <> 'merge' THEN concat_ws(' | ',
			(h.before - 'id')::text, (h.after - 'id')::text,
			t.import_label(ws.id, (h.before ->> 'id')::uuid),
			t.import_label(ws.id, (h.after ->> 'id')::uuid)) END)
	FROM simpleproduct.identity_history h JOIN ws ON h.workspace_id = ws.id
$$;

-- The bulk workspace as it ends up.
SELECT what, item FROM t.import_state('import_bulk') ORDER BY what, item;

-- The differences between one by one and bulk, in both pairs: none.
(SELECT 'only one by one' AS side, * FROM t.import_state('import_one')
 EXCEPT ALL SELECT 'only one by one', * FROM t.import_state('import_bulk'))
UNION ALL
(SELECT 'only bulk', * FROM t.import_state('import_bulk')
 EXCEPT ALL SELECT 'only bulk', * FROM t.import_state('import_one'))
UNION ALL
(SELECT 'only one by one (reject)', * FROM t.import_state('import_one_r')
 EXCEPT ALL SELECT 'only one by one (reject)', * FROM t.import_state('import_bulk_r'))
UNION ALL
(SELECT 'only bulk (reject)', * FROM t.import_state('import_bulk_r')
 EXCEPT ALL SELECT 'only bulk (reject)', * FROM t.import_state('import_one_r'))
ORDER BY 1, 2, 3;

-- A range of lines, progress notices, and a staged table of the wrong shape.
SET simpleproduct.workspace = 'import_bulk';
SELECT count(*) AS rows, count(error_code) AS errors
FROM simpleproduct.sp_import('t.import_rows', 1, 1, 3);
CREATE TABLE t.import_no_person (line bigint);
SELECT t.err($$SELECT * FROM simpleproduct.sp_import('t.import_no_person')$$);
SELECT t.err($$SELECT * FROM simpleproduct.sp_import('t.no_such_table')$$);
CREATE TABLE t.import_wrong (line bigint, person integer);
INSERT INTO t.import_wrong VALUES (1, 1);
SELECT t.err($$SELECT * FROM simpleproduct.sp_import('t.import_wrong')$$);
RESET simpleproduct.workspace;

-- Organizations, staged the same way.
CREATE TABLE t.import_orgs (line bigint, organization jsonb);
INSERT INTO t.import_orgs VALUES
	(1, '{"domain": "https://www.Org-Import.com/about", "name": "Org"}'),
	(2, '{"domain": "co.uk"}'),
	(3, '{"domain": "org-import.com", "name": "Org renamed"}');
SELECT line, organization_id IS NOT NULL AS has_id, created, error_code
FROM simpleproduct.sp_import_organizations('t.import_orgs') ORDER BY line;
SELECT name, domain FROM simpleproduct.organizations
WHERE domain = 'org-import.com';
