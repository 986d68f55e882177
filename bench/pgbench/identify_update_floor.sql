-- The floor of identify_update.sql: one INSERT ... ON CONFLICT DO UPDATE into
-- a table of the same shape and indexes, without triggers.
\set id random(1, :people)
\set dom :id % :domains
\set plan random(1, 1000000)
INSERT INTO bench.floor_people AS p (workspace_id, external_id, email, properties, last_seen_at) VALUES (1, 'u' || :id, 'u' || :id || '@c' || :dom || '-bench.com', ('{"plan":"p' || :plan || '"}')::jsonb, now()) ON CONFLICT (workspace_id, external_id) DO UPDATE SET email = excluded.email, properties = p.properties || excluded.properties, last_seen_at = excluded.last_seen_at, updated_at = now() RETURNING id;
