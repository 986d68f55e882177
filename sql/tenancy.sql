-- Tenancy, enforced by the database: one workspace can neither read nor
-- change another's rows, through the API functions or directly, and the
-- HTTP server's role can do nothing but call the API functions.

-- Roles are cluster-wide: clear any left by an interrupted earlier run.
SET client_min_messages = warning;
DROP ROLE IF EXISTS sp_tenancy_api, sp_tenancy_definer;
RESET client_min_messages;
CREATE ROLE sp_tenancy_definer NOLOGIN;
CREATE ROLE sp_tenancy_api LOGIN;
GRANT USAGE ON SCHEMA t TO sp_tenancy_api, sp_tenancy_definer;

-- The API roles must not escape row-level security.
SELECT t.err($$SELECT simpleproduct.grant_api_access('postgres', 'sp_tenancy_definer')$$);
SELECT t.err($$SELECT simpleproduct.grant_api_access('sp_tenancy_api', 'sp_tenancy_api')$$);
SELECT simpleproduct.grant_api_access('sp_tenancy_api', 'sp_tenancy_definer');

-- Every table keyed by workspace has row-level security on, with a policy
-- (the query lists the tables that would not); workspaces too.
SELECT c.relname AS unprotected
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'simpleproduct' AND c.relkind = 'r'
	AND (EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid
				 AND a.attname = 'workspace_id')
		 OR c.relname = 'workspaces')
	AND (NOT c.relrowsecurity
		 OR NOT EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid));
SELECT count(*) > 6 AS many_tables_protected
FROM pg_class c
WHERE c.relnamespace = 'simpleproduct'::regnamespace AND c.relrowsecurity;

-- Two workspaces, one key each.  A key is "sp_" and 64 hex digits, and only
-- its hash is stored.
SELECT simpleproduct.create_workspace('tenancy_a') > 1 AS created;
SELECT simpleproduct.create_workspace('tenancy_b') > 1 AS created;
SELECT simpleproduct.create_api_key('tenancy_a', 'a') AS key_a \gset
SELECT simpleproduct.create_api_key('tenancy_b', 'b') AS key_b \gset
SELECT :'key_a' ~ '^sp_[0-9a-f]{64}$' AS key_format,
	:'key_a' <> :'key_b' AS distinct_keys;
SELECT prefix = left(:'key_a', 11) AS prefix_kept, label, revoked_at IS NULL AS active
FROM simpleproduct.list_api_keys('tenancy_a');
SELECT count(*) AS keys_in_clear FROM simpleproduct.api_keys
WHERE key_hash = convert_to(:'key_a', 'UTF8') OR prefix = :'key_a';
SELECT t.err($$SELECT simpleproduct.create_api_key('no_such_workspace')$$);

-- As the server's role: workspace A makes a person and an organization.
SET ROLE sp_tenancy_api;
SELECT status FROM simpleproduct.api_post_organization(:'key_a',
	'{"name": "Tenant A", "domain": "tenancy-a.example"}');
SELECT status, result::jsonb->'organization'->>'name' AS organization
FROM simpleproduct.api_post_person(:'key_a',
	'{"externalId": "t-1", "email": "ann@tenancy-a.example", "name": "Ann"}');
SELECT id AS person_a FROM simpleproduct.api_get_person(:'key_a', 'externalId', 't-1') \gset
SELECT status FROM simpleproduct.api_post_feedback(:'key_a',
	'{"content": "from a", "externalId": "t-1"}');
SELECT id AS org_a FROM simpleproduct.api_get_organization(:'key_a',
	(SELECT id FROM simpleproduct.api_post_organization(:'key_a',
		'{"domain": "tenancy-a.example"}'))) \gset

-- Workspace B finds none of it, by any identifier.
SELECT t.err(format('SELECT simpleproduct.api_get_person(%L, %L, %L)', :'key_b', 'id', :'person_a'));
SELECT t.err(format('SELECT simpleproduct.api_get_person(%L, %L, %L)', :'key_b', 'externalId', 't-1'));
SELECT t.err(format('SELECT simpleproduct.api_get_person(%L, %L, %L)', :'key_b', 'email', 'ann@tenancy-a.example'));
SELECT t.err(format('SELECT simpleproduct.api_get_organization(%L, %L)', :'key_b', :'org_a'));

-- Workspace B's writes with A's identifiers make B's own rows; A's stay.
SELECT status, id <> :'person_a' AS another_person,
	result::jsonb->'organization' AS organization
FROM simpleproduct.api_post_person(:'key_b',
	'{"externalId": "t-1", "email": "ann@tenancy-a.example", "name": "Mallory"}');
SELECT status FROM simpleproduct.api_post_organization(:'key_b',
	'{"name": "Not A", "domain": "tenancy-a.example"}');
SELECT status, result::jsonb->'person'->>'id' <> :'person_a' AS not_a_person
FROM simpleproduct.api_post_feedback(:'key_b',
	'{"content": "hi", "externalId": "t-1"}');
SELECT result::jsonb->>'name' AS name, result::jsonb->'organization'->>'name' AS organization
FROM simpleproduct.api_get_person(:'key_a', 'id', :'person_a');

-- The server's role reads no table and calls no core function, even with
-- the workspace set by hand.
SET simpleproduct.workspace = 'tenancy_a';
SELECT t.err('SELECT count(*) FROM simpleproduct.people');
SELECT t.err('SELECT count(*) FROM simpleproduct.api_keys');
SELECT t.err('UPDATE simpleproduct.people SET name = $$x$$');
SELECT t.err($$SELECT simpleproduct.sp_find_person('{"externalId": "t-1"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "t-9"}')$$);
SELECT t.err(format('SELECT simpleproduct.api_authenticate(%L)', :'key_a'));
SELECT t.err($$SELECT simpleproduct.create_api_key('tenancy_a')$$);
-- The key decides the workspace, not the setting.
SET simpleproduct.workspace = 'tenancy_b';
SELECT result::jsonb->>'name' AS name
FROM simpleproduct.api_get_person(:'key_a', 'externalId', 't-1');
RESET simpleproduct.workspace;
RESET ROLE;

-- As the definer role, which the API functions run as: row-level security
-- limits it to the current workspace, for reads and for writes.
SELECT id AS ws_a FROM simpleproduct.workspaces WHERE name = 'tenancy_a' \gset
SET ROLE sp_tenancy_definer;
SET simpleproduct.workspace = 'tenancy_b';
SELECT name FROM simpleproduct.people WHERE external_id = 't-1';
SELECT count(*) AS a_rows_seen FROM simpleproduct.people WHERE id = :'person_a';
WITH changed AS (
	UPDATE simpleproduct.people SET name = 'changed by b'
	WHERE id = :'person_a' RETURNING 1)
SELECT count(*) AS updated FROM changed;
WITH gone AS (
	DELETE FROM simpleproduct.people WHERE id = :'person_a' RETURNING 1)
SELECT count(*) AS deleted FROM gone;
WITH gone AS (
	DELETE FROM simpleproduct.organizations WHERE id = :'org_a' RETURNING 1)
SELECT count(*) AS deleted FROM gone;
WITH gone AS (
	DELETE FROM simpleproduct.feedback RETURNING workspace_id)
SELECT count(*) AS deleted,
	count(*) FILTER (WHERE workspace_id = :ws_a) AS deleted_of_a
FROM gone;
SELECT t.err(format($$INSERT INTO simpleproduct.people (workspace_id, external_id)
	VALUES (%s, 'planted')$$, :ws_a));
SELECT t.err($$UPDATE simpleproduct.people SET workspace_id = 1 WHERE external_id = 't-1'$$);
SELECT name FROM simpleproduct.workspaces ORDER BY 1;
SELECT t.err('SELECT count(*) FROM simpleproduct.api_keys');
SET simpleproduct.workspace = 'tenancy_a';
SELECT name FROM simpleproduct.people WHERE external_id = 't-1';
RESET simpleproduct.workspace;
RESET ROLE;

-- Nothing of A's changed, and each workspace has its own rows.
SELECT w.name, p.external_id, p.email, p.name, o.name AS organization
FROM simpleproduct.people p
JOIN simpleproduct.workspaces w ON w.id = p.workspace_id
LEFT JOIN simpleproduct.organizations o
	ON o.workspace_id = p.workspace_id AND o.id = p.organization_id
WHERE w.name LIKE 'tenancy_%'
ORDER BY 1, 2;
SELECT w.name, count(f.*) AS feedback
FROM simpleproduct.workspaces w
LEFT JOIN simpleproduct.feedback f ON f.workspace_id = w.id
WHERE w.name LIKE 'tenancy_%'
GROUP BY 1 ORDER BY 1;

-- A revoked key fails at once; revoking twice says so.
SELECT id AS key_b_id FROM simpleproduct.list_api_keys('tenancy_b') \gset
SELECT simpleproduct.revoke_api_key(:key_b_id);
SELECT simpleproduct.revoke_api_key(:key_b_id);
SET ROLE sp_tenancy_api;
SELECT t.err(format('SELECT simpleproduct.api_get_person(%L, %L, %L)', :'key_b', 'externalId', 't-1'));
SELECT t.err($$SELECT simpleproduct.api_get_person('sp_nonsense', 'externalId', 't-1')$$);
SELECT t.err($$SELECT simpleproduct.api_get_person('', 'externalId', 't-1')$$);
RESET ROLE;
SELECT t.err('SELECT simpleproduct.revoke_api_key(999999)');

-- Leave no role behind: they are cluster-wide.
REASSIGN OWNED BY sp_tenancy_definer TO CURRENT_USER;
DROP OWNED BY sp_tenancy_api, sp_tenancy_definer;
DROP ROLE sp_tenancy_api, sp_tenancy_definer;
SELECT DISTINCT pg_get_userbyid(p.proowner) = CURRENT_USER AS owned_back
FROM pg_proc p WHERE p.proname LIKE 'api\_%'
	AND p.pronamespace = 'simpleproduct'::regnamespace;
