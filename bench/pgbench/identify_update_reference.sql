-- The PL/pgSQL reference (bench/reference.sql), same call as identify_update.sql.
\set id random(1, :people)
\set dom :id % :domains
\set plan random(1, 1000000)
SELECT bench.pl_identify(('{"externalId":"u' || :id || '","email":"u' || :id || '@c' || :dom || '-bench.com","properties":{"plan":"p' || :plan || '"}}')::jsonb);
