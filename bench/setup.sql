-- bench/setup.sql: the data and the floor tables of the benchmark.
--
-- Run by bench/run in a throwaway database that has the extension.  psql
-- variables: people (how many people to load), domains (how many
-- organizations they are spread over), link_people (people per domain of
-- the organization-linking case) and with_floor (false: only the people,
-- for the scale case's big database).
--
-- People are u1..uN with email uN@cK-bench.com; the organizations cK-bench.com
-- exist, so people are linked as in production.  The floor tables have the
-- shape and the indexes of the extension's tables (LIKE ... INCLUDING ALL)
-- but none of its triggers: they are what bare SQL can do.

\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE SCHEMA IF NOT EXISTS bench;

-- The organizations people link to, made through the product's function.
SELECT count(simpleproduct.sp_upsert_org(jsonb_build_object(
		'domain', 'c' || k || '-bench.com', 'name', 'Company ' || k)))
	FROM generate_series(0, :domains - 1) AS k;

-- The people.  Bulk loading skips the triggers (session_replication_role)
-- and fills what they would have filled: domain, registrable domain, link.
-- Ids and identifiers grow in order so that loading millions stays quick.
SET session_replication_role = replica;
INSERT INTO simpleproduct.people (workspace_id, id, external_id, email,
		email_domain, email_root, name, properties, organization_id,
		last_seen_at)
	SELECT 1,
		('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
		'u' || i, 'u' || i || '@c' || (i % :domains) || '-bench.com',
		'c' || (i % :domains) || '-bench.com',
		'c' || (i % :domains) || '-bench.com',
		'User ' || i, jsonb_build_object('plan', 'free', 'seats', i % 7),
		o.id, now() - interval '2 hours'
	FROM generate_series(1, :people) AS i
		JOIN simpleproduct.organizations o
			ON o.workspace_id = 1 AND o.domain = 'c' || (i % :domains) || '-bench.com';
RESET session_replication_role;

\if :with_floor
-- The floor tables, with the same rows.
CREATE TABLE bench.floor_people
	(LIKE simpleproduct.people INCLUDING ALL);
INSERT INTO bench.floor_people SELECT * FROM simpleproduct.people;
CREATE TABLE bench.floor_feedback
	(LIKE simpleproduct.feedback INCLUDING ALL);

-- The people of the organization-linking case: link_people people at each
-- of big1..big3-bench.com, which no organization holds yet.
SET session_replication_role = replica;
INSERT INTO simpleproduct.people (workspace_id, external_id, email,
		email_domain, email_root, name)
	SELECT 1, 'b' || k || '-' || i, 'b' || i || '@big' || k || '-bench.com',
		'big' || k || '-bench.com', 'big' || k || '-bench.com', 'Big ' || i
	FROM generate_series(1, 3) AS k, generate_series(1, :link_people) AS i;
RESET session_replication_role;
INSERT INTO bench.floor_people
	SELECT * FROM simpleproduct.people WHERE external_id LIKE 'b%';
\endif

VACUUM ANALYZE;
