-- Workspaces: the setting simpleproduct.workspace picks the tenant; unset
-- means the default workspace.

INSERT INTO simpleproduct.workspaces (name) VALUES ('second');
SELECT simpleproduct.sp_identify('{"externalId": "ws-1", "email": "ws@example.net"}')->>'id' AS default_person \gset
-- the setting is defined once the library is loaded (by the call above)
SHOW simpleproduct.workspace;

SET simpleproduct.workspace = 'second';
SELECT simpleproduct.current_workspace_id() = (SELECT id FROM simpleproduct.workspaces WHERE name = 'second') AS second_ws;
-- the same identifiers make another person in another workspace
SELECT r->>'created' AS created, r->>'id' <> :'default_person' AS other_person
FROM simpleproduct.sp_identify('{"externalId": "ws-1", "email": "ws@example.net"}') r;
SELECT simpleproduct.sp_find_person(jsonb_build_object('id', :'default_person')) IS NULL AS invisible;
-- organizations are per workspace too
SELECT simpleproduct.sp_upsert_org('{"name": "Net", "domain": "example.net"}')->>'created';
SELECT simpleproduct.sp_find_person('{"externalId": "ws-1"}')->'organization'->>'name';

RESET simpleproduct.workspace;
SELECT simpleproduct.sp_find_person('{"externalId": "ws-1"}')->'organization';
SELECT count(*) FROM simpleproduct.people WHERE external_id = 'ws-1';

-- An unknown workspace is an error, not a silent default.
SET simpleproduct.workspace = 'nope';
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "ws-2"}')$$);
SET simpleproduct.workspace = 'this-name-is-far-too-long-for-a-workspace-name-xxxxxxxxxxxxxxxxxxxxxxxxxxx';
RESET simpleproduct.workspace;

-- Renaming a workspace is seen at once by the cached lookup.
SET simpleproduct.workspace = 'second';
SELECT simpleproduct.current_workspace_id() IS NOT NULL;
UPDATE simpleproduct.workspaces SET name = 'renamed' WHERE name = 'second';
SELECT t.err($$SELECT simpleproduct.current_workspace_id()$$);
SET simpleproduct.workspace = 'renamed';
SELECT simpleproduct.sp_find_person('{"externalId": "ws-1"}') IS NOT NULL AS found_again;
RESET simpleproduct.workspace;

-- Conflict policy "reject": an email move is refused with SQLSTATE SP001,
-- naming both people, and nothing is written.
INSERT INTO simpleproduct.workspaces (name, conflict_policy) VALUES ('strict', 'reject');
SET simpleproduct.workspace = 'strict';
SELECT simpleproduct.sp_identify('{"externalId": "r1", "email": "r1@example.net"}')->>'created';
SELECT simpleproduct.sp_identify('{"externalId": "r2", "email": "r2@example.net"}')->>'created';
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "r2", "email": "r1@example.net"}')$$) LIKE 'SP001: email "r1@example.net" belongs to person %' AS rejected;
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "r3", "email": "r1@example.net"}')$$) LIKE 'SP001:%' AS rejected_new;
SELECT external_id, email FROM simpleproduct.people
WHERE workspace_id = simpleproduct.current_workspace_id() ORDER BY external_id;
RESET simpleproduct.workspace;

-- Workspace names: no NULL, no surrounding spaces.
SELECT t.err($$SELECT simpleproduct.create_workspace(NULL)$$);
SELECT t.err($$SELECT simpleproduct.create_workspace('x2', NULL)$$);
SELECT t.err($$SELECT simpleproduct.create_workspace('  spaced  ')$$);
SELECT t.err($$SELECT simpleproduct.create_workspace('x3', 'sometimes')$$);
SELECT simpleproduct.create_workspace('x4') IS NOT NULL AS made;
