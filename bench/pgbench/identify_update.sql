-- sp_identify updating an existing person (a property changes, so it writes).
\set id random(1, :people)
\set dom :id % :domains
\set plan random(1, 1000000)
SELECT simpleproduct.sp_identify(('{"externalId":"u' || :id || '","email":"u' || :id || '@c' || :dom || '-bench.com","properties":{"plan":"p' || :plan || '"}}')::jsonb);
