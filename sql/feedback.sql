-- Feedback: content required, defaults for title and source, metadata an
-- object, and the person resolved by the identify rules.

SELECT t.shape(simpleproduct.sp_feedback('{"content": "Anonymous idea"}'));
SELECT t.shape(simpleproduct.sp_feedback('{"title": "Bug", "content": "It broke", "email": "fb@example.org", "source": "widget", "metadata": {"page": "/x"}}'));
-- the person was created by the feedback
SELECT simpleproduct.sp_find_person('{"email": "fb@example.org"}') IS NOT NULL AS person_created;
-- a known person by externalId
SELECT simpleproduct.sp_identify('{"externalId": "fb1", "name": "Fay"}')->>'id' AS fay \gset
SELECT r->'person'->>'id' = :'fay' AS linked, r->'person'->>'name' AS name
FROM simpleproduct.sp_feedback('{"content": "Nice", "externalId": "fb1"}') r;
SELECT count(*) FROM simpleproduct.feedback WHERE person_id = :'fay';

-- Errors, with nothing written.
SELECT count(*) AS feedback_before FROM simpleproduct.feedback \gset
SELECT count(*) AS people_before FROM simpleproduct.people \gset
SELECT t.err($$SELECT simpleproduct.sp_feedback('{}')$$);
SELECT t.err($$SELECT simpleproduct.sp_feedback('{"content": "   "}')$$);
SELECT t.err($$SELECT simpleproduct.sp_feedback('{"content": 5}')$$);
SELECT t.err($$SELECT simpleproduct.sp_feedback('{"content": "x", "metadata": [1]}')$$);
SELECT t.err($$SELECT simpleproduct.sp_feedback('{"content": "x", "title": ""}')$$);
SELECT t.err($$SELECT simpleproduct.sp_feedback('{"content": "x", "source": 1}')$$);
SELECT t.err($$SELECT simpleproduct.sp_feedback('{"content": "x", "externalId": "undefined"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_feedback('{"content": "x", "email": "new-person@bad"}')$$);
SELECT simpleproduct.sp_feedback('{"title": "No content"}');
SELECT count(*) = :feedback_before AS no_feedback_written FROM simpleproduct.feedback;
SELECT count(*) = :people_before AS no_person_written FROM simpleproduct.people;

-- Feedback and its person commit together or not at all.
BEGIN;
SELECT simpleproduct.sp_feedback('{"content": "rolled back", "externalId": "fb-rollback"}') IS NOT NULL;
ROLLBACK;
SELECT simpleproduct.sp_find_person('{"externalId": "fb-rollback"}') IS NULL AS no_person,
	NOT EXISTS (SELECT FROM simpleproduct.feedback WHERE content = 'rolled back') AS no_feedback;

-- Feedback moves lastSeenAt forward too (at most hourly).
UPDATE simpleproduct.people SET last_seen_at = now() - interval '3 hours' WHERE id = :'fay';
SELECT simpleproduct.sp_feedback('{"content": "again", "externalId": "fb1"}') IS NOT NULL;
SELECT last_seen_at > now() - interval '1 minute' AS moved FROM simpleproduct.people WHERE id = :'fay';
