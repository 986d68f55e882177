-- bench/import_data.sql: a staged table (line, person) of the import case.
-- psql variables: tab (table to create), rows, prefix (quoted; keeps the new
-- people of each run apart).  The mix, per 100 rows: 90 new people with
-- both identifiers, name and properties; 6 updates of existing people u*
-- (same identifiers, a new property); 2 existing people u* found by email
-- with a new externalId (the email moves to a new person); 1 email-only
-- new person; 1 error (no identifier).
\set ON_ERROR_STOP on
CREATE TABLE :tab (line bigint PRIMARY KEY, person jsonb NOT NULL);
INSERT INTO :tab
	SELECT i, CASE
		WHEN i % 100 < 90 THEN jsonb_build_object(
			'externalId', :prefix || i,
			'email', :prefix || i || '@c' || (i % 500) || '-bench.com',
			'name', 'Imported ' || i,
			'properties', jsonb_build_object('plan', 'free', 'source', 'import'))
		WHEN i % 100 < 96 THEN jsonb_build_object(
			'externalId', 'u' || (1 + (i * 7919) % 10000),
			'email', 'u' || (1 + (i * 7919) % 10000) || '@c'
				|| ((1 + (i * 7919) % 10000) % 500) || '-bench.com',
			'properties', jsonb_build_object('imported', true))
		WHEN i % 100 < 98 THEN jsonb_build_object(
			'externalId', :prefix || 'x' || i,
			'email', 'u' || (1 + (i * 104729) % 10000) || '@c'
				|| ((1 + (i * 104729) % 10000) % 500) || '-bench.com')
		WHEN i % 100 < 99 THEN jsonb_build_object(
			'email', :prefix || 'e' || i || '@c' || (i % 500) || '-bench.com')
		ELSE jsonb_build_object('name', 'nobody')
		END
	FROM generate_series(1::bigint, :rows) AS i;
