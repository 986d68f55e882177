-- Identity history, merge undo, erasure and suppression, explicit links
-- and setOnce properties.

-- Every identity change is in the history with before and after.
SELECT simpleproduct.sp_identify('{"email": "h1@example.com"}')->>'id' AS h1 \gset
SELECT simpleproduct.sp_identify('{"externalId": "h-1", "email": "h1@example.com"}') IS NOT NULL;
SELECT simpleproduct.sp_identify('{"externalId": "h-1", "email": "h1b@example.com"}') IS NOT NULL;
SELECT e->>'event' AS event,
	e->'before'->>'externalId' AS external_id_before, e->'before'->>'email' AS email_before,
	e->'after'->>'externalId' AS external_id_after, e->'after'->>'email' AS email_after
FROM jsonb_array_elements(simpleproduct.sp_person_history(jsonb_build_object('id', :'h1'))) e;
SELECT simpleproduct.sp_person_history('{"id": "00000000-0000-0000-0000-000000000000"}') IS NULL AS unknown;
SELECT t.err($$SELECT simpleproduct.sp_person_history('{}')$$);

-- A merge followed by an unmerge restores both people exactly, compared
-- field by field, feedback included.
SELECT simpleproduct.sp_upsert_org('{"name": "Unm", "domain": "unm.example"}') IS NOT NULL;
SELECT simpleproduct.sp_identify('{"externalId": "um-a", "email": "a@old.example", "name": "Ann", "properties": {"plan": "pro"}}')->>'id' AS um_a \gset
SELECT simpleproduct.sp_identify('{"email": "b@unm.example", "properties": {"plan": "free", "role": "admin"}}')->>'id' AS um_b \gset
SELECT simpleproduct.sp_feedback('{"content": "b feedback 1", "email": "b@unm.example"}') IS NOT NULL;
SELECT simpleproduct.sp_feedback('{"content": "b feedback 2", "email": "b@unm.example"}') IS NOT NULL;
SELECT simpleproduct.sp_feedback('{"content": "a feedback", "externalId": "um-a"}') IS NOT NULL;
CREATE TEMP TABLE snapshot AS
	SELECT p.*, ARRAY(SELECT f.id FROM simpleproduct.feedback f WHERE f.person_id = p.id ORDER BY f.id) AS feedback
	FROM simpleproduct.people p WHERE p.id IN (:'um_a', :'um_b');
-- merge B into A
SELECT r->>'id' = :'um_a' AS survivor, r->>'email' AS email, r->'organization'->>'name' AS organization
FROM simpleproduct.sp_identify('{"externalId": "um-a", "email": "b@unm.example"}') r;
SELECT count(*) AS feedback_of_a FROM simpleproduct.feedback WHERE person_id = :'um_a';
-- and undo it
SELECT r->'person'->>'id' = :'um_a' AS survivor, r->'restored'->>'id' = :'um_b' AS restored_id,
	r->'person'->>'email' AS a_email, r->'restored'->>'email' AS b_email,
	r->'restored'->'organization'->>'name' AS b_organization
FROM simpleproduct.sp_unmerge(jsonb_build_object('id', :'um_b')) r;
SELECT s.id = :'um_a' AS is_a,
	(s.external_id, s.email, s.email_domain, s.email_root, s.name, s.properties,
	 s.organization_id, s.organization_explicit, s.last_seen_at, s.created_at,
	 s.updated_at) IS NOT DISTINCT FROM
	(p.external_id, p.email, p.email_domain, p.email_root, p.name, p.properties,
	 p.organization_id, p.organization_explicit, p.last_seen_at, p.created_at,
	 p.updated_at) AS same_fields,
	s.feedback = ARRAY(SELECT f.id FROM simpleproduct.feedback f WHERE f.person_id = p.id ORDER BY f.id) AS same_feedback
FROM snapshot s JOIN simpleproduct.people p ON p.id = s.id ORDER BY 1;
SELECT simpleproduct.sp_find_person(jsonb_build_object('id', :'um_b'))->>'email' AS b_answers_as_itself;
SELECT count(*) AS aliases_left FROM simpleproduct.person_aliases WHERE alias_id = :'um_b';
SELECT event FROM simpleproduct.identity_history WHERE person_id = :'um_a' ORDER BY id;
-- a second unmerge, or one of a person never merged, is refused
SELECT regexp_replace(t.err(format($$SELECT simpleproduct.sp_unmerge('{"id": "%s"}')$$, :'um_b')),
	'[0-9a-f-]{36}', '<id>');
SELECT t.err($$SELECT simpleproduct.sp_unmerge('{"id": "00000000-0000-0000-0000-000000000000"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_unmerge('{}')$$);

-- A survivor changed after the merge keeps its newer values on undo.
SELECT simpleproduct.sp_identify('{"externalId": "um-a", "email": "b@unm.example"}') IS NOT NULL AS merged_again;
SELECT simpleproduct.sp_identify('{"externalId": "um-a", "name": "Ann Newer"}') IS NOT NULL;
SELECT r->'person'->>'name' AS a_name, r->'person'->>'email' AS a_email, r->'restored'->>'email' AS b_email
FROM simpleproduct.sp_unmerge(jsonb_build_object('id', :'um_b')) r;

-- Erase: the person, their history and identifiers go; their feedback
-- stays without the link unless asked.
SELECT simpleproduct.sp_identify('{"externalId": "er-1", "email": "er1@example.com"}')->>'id' AS er1 \gset
SELECT simpleproduct.sp_feedback('{"content": "keep me", "externalId": "er-1"}') IS NOT NULL;
SELECT r - 'id' FROM simpleproduct.sp_erase_person(jsonb_build_object('id', :'er1')) r;
SELECT simpleproduct.sp_find_person(jsonb_build_object('id', :'er1')) IS NULL AS gone,
	simpleproduct.sp_find_person('{"email": "er1@example.com"}') IS NULL AS email_gone;
SELECT person_id IS NULL AS unlinked FROM simpleproduct.feedback WHERE content = 'keep me';
SELECT event, before, after FROM simpleproduct.identity_history WHERE person_id = :'er1';
-- not suppressed: the identifiers may come back as a new person
SELECT simpleproduct.sp_identify('{"externalId": "er-1"}')->>'created' AS comes_back;

-- Erase with deleteFeedback and suppress: identify with the identifiers
-- is refused until un-suppressed; only salted hashes are stored.
SELECT simpleproduct.sp_identify('{"externalId": "er-2", "email": "er2@example.com"}')->>'id' AS er2 \gset
SELECT simpleproduct.sp_feedback('{"content": "delete me", "email": "er2@example.com"}') IS NOT NULL;
SELECT r - 'id' FROM simpleproduct.sp_erase_person(jsonb_build_object('id', :'er2', 'deleteFeedback', true, 'suppress', true)) r;
SELECT count(*) AS feedback_left FROM simpleproduct.feedback WHERE content = 'delete me';
SELECT kind, length(hash) AS hash_bytes FROM simpleproduct.suppressed_identifiers ORDER BY kind;
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "er-2"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"email": "ER2@example.com"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_feedback('{"content": "x", "email": "er2@example.com"}')$$);
SELECT simpleproduct.sp_identify('{"externalId": "er-2b", "email": "er2b@example.com"}') IS NOT NULL;
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "er-2b", "email": "er2@example.com"}')$$);
SELECT simpleproduct.sp_unsuppress('{"email": "er2@example.com"}');
SELECT simpleproduct.sp_unsuppress('{"email": "er2@example.com"}');
SELECT simpleproduct.sp_identify('{"email": "er2@example.com"}')->>'created' AS email_back;
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "er-2"}')$$);
SELECT simpleproduct.sp_unsuppress('{"externalId": "er-2"}');
SELECT t.err($$SELECT simpleproduct.sp_erase_person('{"id": "00000000-0000-0000-0000-000000000000"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_erase_person('{"id": "x"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_erase_person(jsonb_build_object('id', gen_random_uuid(), 'suppress', 'yes'))$$);
SELECT t.err($$SELECT simpleproduct.sp_unsuppress('{}')$$);

-- Suppression covers the identifiers a person held before, too, but not
-- one that another person holds now.
SELECT simpleproduct.sp_identify('{"externalId": "er-3", "email": "er3-old@example.com"}') IS NOT NULL;
SELECT simpleproduct.sp_identify('{"externalId": "er-3", "email": "er3-new@example.com"}') IS NOT NULL;
SELECT simpleproduct.sp_identify('{"externalId": "er-3b", "email": "er3-old@example.com"}') IS NOT NULL AS someone_else_takes_old_email;
SELECT simpleproduct.sp_identify('{"externalId": "er-3", "email": "er3-newer@example.com"}') IS NOT NULL;
SELECT r->>'suppressed' FROM simpleproduct.sp_erase_person(
	(SELECT jsonb_build_object('id', id, 'suppress', true) FROM simpleproduct.people WHERE external_id = 'er-3')) r;
SELECT t.err($$SELECT simpleproduct.sp_identify('{"email": "er3-new@example.com"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"email": "er3-newer@example.com"}')$$);
SELECT simpleproduct.sp_identify('{"email": "er3-old@example.com"}')->>'externalId' AS still_usable_by_its_holder;

-- An explicit organization in identify beats automatic linking; by domain
-- it is created on the way; null hands the person back.
SELECT simpleproduct.sp_upsert_org('{"name": "Auto", "domain": "auto.example"}') IS NOT NULL;
SELECT simpleproduct.sp_identify('{"email": "x@auto.example", "organization": {"domain": "chosen.example", "name": "Chosen"}}')->'organization'->>'name';
SELECT organization_explicit FROM simpleproduct.people WHERE email = 'x@auto.example';
SELECT simpleproduct.sp_identify('{"email": "x@auto.example", "name": "X"}')->'organization'->>'name';
SELECT simpleproduct.sp_identify(jsonb_build_object('email', 'y@auto.example', 'organization',
	jsonb_build_object('id', simpleproduct.sp_find_org('{"domain": "chosen.example"}')->>'id')))->'organization'->>'name';
SELECT simpleproduct.sp_identify('{"email": "x@auto.example", "organization": null}')->'organization'->>'name';
SELECT t.err($$SELECT simpleproduct.sp_identify('{"email": "x@auto.example", "organization": {"id": "00000000-0000-0000-0000-000000000000"}}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"email": "x@auto.example", "organization": {}}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"email": "x@auto.example", "organization": {"domain": "gmail.com"}}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"email": "x@auto.example", "organization": "auto.example"}')$$);

-- setOnce: written only when the key is absent.
SELECT simpleproduct.sp_identify('{"externalId": "so", "setOnce": {"firstSeen": "monday", "plan": "trial"}}')->'properties';
SELECT simpleproduct.sp_identify('{"externalId": "so", "properties": {"plan": "pro"}, "setOnce": {"firstSeen": "tuesday", "source": "ads"}}')->'properties';
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "so", "setOnce": [1]}')$$);
