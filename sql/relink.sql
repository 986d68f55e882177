-- sp_relink recomputes every automatic link of a workspace after the
-- public email provider list or the Public Suffix List changed.  A change
-- of list is simulated by writing stale derived columns with the trigger
-- off, as an older list would have left them.  The test has a workspace
-- of its own, so that the counts are its own.

INSERT INTO simpleproduct.workspaces (name) VALUES ('relink');
SET simpleproduct.workspace = 'relink';

SELECT simpleproduct.sp_upsert_org('{"name": "Relink", "domain": "relink.example"}') IS NOT NULL;
SELECT simpleproduct.sp_upsert_org('{"name": "Relink Sub", "domain": "sub.relink.example"}') IS NOT NULL;
SELECT count(*) FROM (
	SELECT simpleproduct.sp_identify(jsonb_build_object('email', 'p' || i || '@relink.example'))
	FROM generate_series(1, 30) i) s;
SELECT count(*) FROM (
	SELECT simpleproduct.sp_identify(jsonb_build_object('email', 'q' || i || '@a.sub.relink.example'))
	FROM generate_series(1, 20) i) s;
SELECT simpleproduct.sp_identify('{"email": "stale@gmail.com"}') IS NOT NULL;
UPDATE simpleproduct.people SET organization_id = (SELECT id FROM simpleproduct.organizations WHERE name = 'Relink Sub')
WHERE email = 'p1@relink.example';

ALTER TABLE simpleproduct.people DISABLE TRIGGER people_before_write;
UPDATE simpleproduct.people SET organization_id = NULL
WHERE email LIKE 'p%@relink.example' AND email <> 'p1@relink.example';
UPDATE simpleproduct.people SET email_root = 'a.sub.relink.example',
	organization_id = (SELECT id FROM simpleproduct.organizations WHERE name = 'Relink')
WHERE email LIKE 'q%@a.sub.relink.example';
UPDATE simpleproduct.people SET email_root = 'gmail.com',
	organization_id = (SELECT id FROM simpleproduct.organizations WHERE name = 'Relink')
WHERE email = 'stale@gmail.com';
ALTER TABLE simpleproduct.people ENABLE TRIGGER people_before_write;

SELECT simpleproduct.sp_relink('{"batchSize": 1}');
SELECT o.name, count(*), bool_and(p.email_root = 'relink.example') AS roots_right
FROM simpleproduct.people p JOIN simpleproduct.organizations o ON o.id = p.organization_id
WHERE p.email LIKE '%relink.example' GROUP BY o.name ORDER BY o.name;
SELECT email_root, organization_id FROM simpleproduct.people WHERE email = 'stale@gmail.com';
-- the explicit link survives
SELECT o.name FROM simpleproduct.people p JOIN simpleproduct.organizations o ON o.id = p.organization_id
WHERE p.email = 'p1@relink.example';
-- a second run finds nothing to do
SELECT simpleproduct.sp_relink();
SELECT t.err($$SELECT simpleproduct.sp_relink('{"batchSize": 0}')$$);
SELECT t.err($$SELECT simpleproduct.sp_relink('{"batchSize": "x"}')$$);
RESET simpleproduct.workspace;
