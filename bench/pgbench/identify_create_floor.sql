-- The floor of identify_create.sql.
\set r random(1, 1000000000000)
\set dom :r % :domains
INSERT INTO bench.floor_people AS p (workspace_id, external_id, email, name, properties, last_seen_at) VALUES (1, 'n' || :client_id || '-' || :r, 'n' || :client_id || '-' || :r || '@c' || :dom || '-bench.com', 'New person', '{"plan":"free"}'::jsonb, now()) ON CONFLICT (workspace_id, external_id) DO UPDATE SET email = excluded.email, name = excluded.name, properties = p.properties || excluded.properties, last_seen_at = excluded.last_seen_at, updated_at = now() RETURNING id;
