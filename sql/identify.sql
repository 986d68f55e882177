-- Identity resolution: every row of SPEC.md's identity table, then the
-- rules for each identifier and field.

-- externalId only: create, then update the same person.
SELECT t.shape(simpleproduct.sp_identify('{"externalId": "u1", "name": "Ann"}'));
SELECT t.shape(simpleproduct.sp_identify('{"externalId": "u1", "properties": {"plan": "pro"}}'));
SELECT count(*) FROM simpleproduct.people WHERE external_id = 'u1';

-- email only: create an email-only person, then update it.
SELECT t.shape(simpleproduct.sp_identify('{"email": "solo@example.org"}'));
SELECT t.shape(simpleproduct.sp_identify('{"email": "Solo@Example.org", "name": "Solo"}'));
SELECT count(*) FROM simpleproduct.people WHERE email = 'solo@example.org';

-- both, neither exists: one person with both.
SELECT t.shape(simpleproduct.sp_identify('{"externalId": "u2", "email": "bea@example.org"}'));

-- both, only A exists: A's email changes; the old one stays in history.
SELECT simpleproduct.sp_identify('{"externalId": "u3", "email": "old3@example.org"}')->>'id' AS a3 \gset
SELECT simpleproduct.sp_identify('{"externalId": "u3", "email": "new3@example.org"}')->>'id' = :'a3' AS same_person;
SELECT email FROM simpleproduct.people WHERE id = :'a3';
SELECT event, before->>'email' AS before, after->>'email' AS after
FROM simpleproduct.identity_history WHERE person_id = :'a3' ORDER BY id;

-- both, only B exists and B has no externalId: B claims it, same id.
SELECT simpleproduct.sp_identify('{"email": "claim@example.org"}')->>'id' AS b4 \gset
SELECT r->>'id' = :'b4' AS same_person, r->>'externalId' AS external_id, r->>'created' AS created
FROM simpleproduct.sp_identify('{"externalId": "u4", "email": "claim@example.org"}') r;
SELECT event, before->>'externalId' AS before, after->>'externalId' AS after
FROM simpleproduct.identity_history WHERE person_id = :'b4' ORDER BY id;

-- both, only B exists and B has another externalId: the email moves to a
-- new person holding both; B keeps its id and loses the email.
SELECT simpleproduct.sp_identify('{"externalId": "u5", "email": "shared@example.org"}')->>'id' AS b5 \gset
SELECT r->>'id' <> :'b5' AS new_person, r->>'externalId' AS external_id,
	r->>'email' AS email, r->>'created' AS created
FROM simpleproduct.sp_identify('{"externalId": "u6", "email": "shared@example.org"}') r;
SELECT external_id, email FROM simpleproduct.people WHERE id = :'b5';
SELECT event, before->>'email' AS before, after->>'email' AS after
FROM simpleproduct.identity_history WHERE person_id = :'b5' ORDER BY id;

-- both, A = B: a plain update.
SELECT t.shape(simpleproduct.sp_identify('{"externalId": "u2", "email": "bea@example.org", "name": "Bea"}'));

-- both, A differs from B and B has no externalId: B is merged into A.  B's
-- feedback moves to A, A's values win, A's empty fields are filled from B,
-- and B's id answers as A from then on.
SELECT simpleproduct.sp_identify('{"externalId": "u7", "properties": {"plan": "pro", "seats": 3}}')->>'id' AS a7 \gset
SELECT simpleproduct.sp_identify('{"email": "merge@example.org", "name": "Mia", "properties": {"plan": "free", "role": "admin"}}')->>'id' AS b7 \gset
SELECT simpleproduct.sp_feedback('{"content": "from B", "email": "merge@example.org"}') IS NOT NULL AS stored;
SELECT r->>'id' = :'a7' AS survivor_is_a, r->>'created' AS created, r->>'name' AS name,
	r->>'email' AS email, r->'properties' AS properties
FROM simpleproduct.sp_identify('{"externalId": "u7", "email": "merge@example.org"}') r;
SELECT count(*) AS people_left FROM simpleproduct.people WHERE id IN (:'a7', :'b7');
SELECT person_id = :'a7' AS feedback_follows FROM simpleproduct.feedback WHERE content = 'from B';
SELECT simpleproduct.sp_find_person(jsonb_build_object('id', :'b7'))->>'id' = :'a7' AS merged_id_answers;
SELECT event, other_person_id = :'b7' AS other_is_b, before->'merged'->>'name' AS merged_name,
	jsonb_array_length(before->'feedback') AS moved_feedback
FROM simpleproduct.identity_history WHERE person_id = :'a7' ORDER BY id;

-- both, A differs from B and B has another externalId: the email moves
-- from B to A.
SELECT simpleproduct.sp_identify('{"externalId": "u8", "email": "a8@example.org"}')->>'id' AS a8 \gset
SELECT simpleproduct.sp_identify('{"externalId": "u9", "email": "b9@example.org"}')->>'id' AS b9 \gset
SELECT r->>'id' = :'a8' AS is_a, r->>'email' AS email
FROM simpleproduct.sp_identify('{"externalId": "u8", "email": "b9@example.org"}') r;
SELECT external_id, email FROM simpleproduct.people WHERE id IN (:'a8', :'b9') ORDER BY external_id;
SELECT event FROM simpleproduct.identity_history
WHERE person_id IN (:'a8', :'b9') ORDER BY id;

-- neither identifier: an error, and nothing written.
SELECT count(*) AS people_before FROM simpleproduct.people \gset
SELECT simpleproduct.sp_identify('{"name": "Nobody"}');
SELECT simpleproduct.sp_identify('{"externalId": null, "email": null}');
SELECT count(*) = :people_before AS nothing_written FROM simpleproduct.people;

-- Emails: trimmed and lower-cased; the Unicode and punycode forms of one
-- domain are one domain.
SELECT simpleproduct.sp_identify('{"email": "  Zoe@EXAMPLE.org\t"}')->>'email';
SELECT simpleproduct.sp_identify('{"email": "jan@bücher.example"}')->>'id' AS idn \gset
SELECT simpleproduct.sp_identify('{"email": "JAN@xn--bcher-kva.example"}')->>'id' = :'idn' AS same_person;
SELECT simpleproduct.normalize_email('Jan@BÜCHER.example');

-- Invalid addresses are errors and are never stored.
SELECT t.err($$SELECT simpleproduct.sp_identify('{"email": "not-an-email"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"email": "a@b@example.org"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"email": "ann@localhost"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"email": "ann@exa mple.org"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"email": "ann..b@example.org"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"email": "@example.org"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"email": "ann@-example.org"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"email": "ann@xn--zz.example"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"email": ""}')$$);
SELECT simpleproduct.sp_identify('{"email": "bad address@example.org"}');
SELECT count(*) AS stored FROM simpleproduct.people WHERE email LIKE '%localhost%' OR email = '';

-- externalId: exact (case matters), trimmed, at most 255 characters; a JSON
-- integer is its decimal text; junk values are errors.
SELECT simpleproduct.sp_identify('{"externalId": " Case "}')->>'externalId';
SELECT simpleproduct.sp_identify('{"externalId": "case"}')->>'created' AS lower_case_is_another;
SELECT simpleproduct.sp_identify('{"externalId": 123}')->>'externalId';
SELECT simpleproduct.sp_identify('{"externalId": "123"}')->>'created' AS string_123_created;
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "null"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "undefined"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "None"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "NaN"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "0"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": 0}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": -1}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "[object Object]"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "   "}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": 1.5}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": true}')$$);
SELECT t.err(format($$SELECT simpleproduct.sp_identify('{"externalId": "%s"}')$$, repeat('x', 256)));
SELECT length(simpleproduct.sp_identify(jsonb_build_object('externalId', repeat('é', 255)))->>'externalId');
SELECT simpleproduct.sp_identify('{"externalId": "undefined"}');
SELECT count(*) AS junk_stored FROM simpleproduct.people
WHERE lower(external_id) IN ('null', 'undefined', 'none', 'nan', '0', '-1', '[object object]', '');

-- Wrong types are refused with their own SQLSTATE.
SELECT t.err($$SELECT simpleproduct.sp_identify('[1, 2]')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('"u1"')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"email": 42}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "u1", "name": 7}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "u1", "properties": [1]}')$$);
SELECT t.err($$SELECT simpleproduct.sp_identify('{"externalId": "u1", "properties": "x"}')$$);
SELECT simpleproduct.sp_identify(NULL) IS NULL AS null_in_null_out;

-- properties are a JSON Merge Patch: keys overwrite, null removes, nested
-- objects merge.
SELECT simpleproduct.sp_identify('{"externalId": "mp", "properties": {"a": 1, "b": {"x": 1, "y": 2}, "c": 3}}')->'properties';
SELECT simpleproduct.sp_identify('{"externalId": "mp", "properties": {"a": 2, "b": {"y": null, "z": 3}, "c": null, "d": {"n": null}}}')->'properties';
SELECT simpleproduct.sp_identify('{"externalId": "mp", "properties": {}}')->'properties';
SELECT simpleproduct.merge_patch('{"a": [1, 2]}', '{"a": {"b": 1}}'),
	simpleproduct.merge_patch('{"a": 1}', '[1]'),
	simpleproduct.merge_patch(NULL, '{"a": null, "b": 2}');

-- name: absent keeps, null clears.
SELECT simpleproduct.sp_identify('{"externalId": "nm", "name": "Nora"}')->>'name';
SELECT simpleproduct.sp_identify('{"externalId": "nm"}')->>'name';
SELECT simpleproduct.sp_identify('{"externalId": "nm", "name": null}')->'name';

-- lastSeenAt: an identify that changes nothing writes nothing within the
-- hour; an older lastSeenAt is moved forward; a real change writes.
SELECT simpleproduct.sp_identify('{"externalId": "seen"}')->>'id' AS seen \gset
SELECT xmin AS xmin_before FROM simpleproduct.people WHERE id = :'seen' \gset
SELECT simpleproduct.sp_identify('{"externalId": "seen"}')->>'created';
SELECT xmin = :'xmin_before' AS not_rewritten FROM simpleproduct.people WHERE id = :'seen';
UPDATE simpleproduct.people SET last_seen_at = now() - interval '2 hours',
	updated_at = now() - interval '2 hours' WHERE id = :'seen';
SELECT (r->>'lastSeenAt')::timestamptz > now() - interval '1 minute' AS moved_forward,
	(r->>'updatedAt')::timestamptz < now() - interval '1 hour' AS updated_at_kept
FROM simpleproduct.sp_identify('{"externalId": "seen"}') r;
SELECT (r->>'updatedAt')::timestamptz > now() - interval '1 minute' AS change_moves_updated_at
FROM simpleproduct.sp_identify('{"externalId": "seen", "name": "Seen"}') r;

-- sp_find_person: by id, email or externalId; NULL when none.
SELECT simpleproduct.sp_find_person('{"externalId": "u2"}')->>'email';
SELECT simpleproduct.sp_find_person('{"email": " BEA@example.org"}')->>'externalId';
SELECT simpleproduct.sp_find_person(jsonb_build_object('id', :'a3'))->>'externalId';
SELECT simpleproduct.sp_find_person('{"externalId": "nobody"}') IS NULL AS none;
SELECT simpleproduct.sp_find_person('{"id": "not-a-uuid"}') IS NULL AS none;
SELECT simpleproduct.sp_find_person('{"id": "00000000-0000-0000-0000-000000000000"}') IS NULL AS none;
SELECT t.err($$SELECT simpleproduct.sp_find_person('{}')$$);
SELECT t.err($$SELECT simpleproduct.sp_find_person('{"email": "a@example.org", "externalId": "u1"}')$$);

-- The history is append-only.
SELECT t.err($$UPDATE simpleproduct.identity_history SET event = 'create'$$);
SELECT t.err($$DELETE FROM simpleproduct.identity_history$$);

-- Plain SQL follows the same rules: normalised email, junk ids refused.
INSERT INTO simpleproduct.people (email, external_id) VALUES (' Plain@Example.ORG ', ' p1 ');
SELECT email, external_id FROM simpleproduct.people WHERE external_id = 'p1';
SELECT t.err($$INSERT INTO simpleproduct.people (external_id) VALUES ('undefined')$$);
SELECT t.err($$INSERT INTO simpleproduct.people (email) VALUES ('nope')$$);
SELECT t.err($$INSERT INTO simpleproduct.people (external_id, properties) VALUES ('p2', '[1]')$$);
SELECT t.err($$UPDATE simpleproduct.people SET properties = '"x"' WHERE external_id = 'p1'$$);
SELECT t.err(format($$INSERT INTO simpleproduct.people (external_id) VALUES ('%s')$$, repeat('y', 256)));
SELECT t.err($$INSERT INTO simpleproduct.people (name) VALUES ('nobody')$$);

-- Invisible characters around an address are trimmed; inside the local
-- part they are refused; accents in either Unicode form are one address.
SELECT simpleproduct.normalize_email(e'\u00a0\ufeffann@Spaces.example\u200b\u3000');
SELECT t.err($$SELECT simpleproduct.normalize_email(e'an\u200bn@spaces.example')$$);
SELECT simpleproduct.normalize_email(e'jos\u00e9@accent.example') = simpleproduct.normalize_email(e'jose\u0301@accent.example') AS one_address;
-- No mailbox lives at a public suffix, nor at an A-label that is not one.
SELECT t.err($$SELECT simpleproduct.normalize_email('john@co.uk')$$);
SELECT t.err($$SELECT simpleproduct.normalize_email('john@xn--a.com')$$);
