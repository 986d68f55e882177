-- The PL/pgSQL reference, same call as identify_create.sql.
\set r random(1, 1000000000000)
\set dom :r % :domains
SELECT bench.pl_identify(('{"externalId":"n' || :client_id || '-' || :r || '","email":"n' || :client_id || '-' || :r || '@c' || :dom || '-bench.com","name":"New person","properties":{"plan":"free"}}')::jsonb);
