-- sp_identify creating a new person (both identifiers, a name, properties).
\set r random(1, 1000000000000)
\set dom :r % :domains
SELECT simpleproduct.sp_identify(('{"externalId":"n' || :client_id || '-' || :r || '","email":"n' || :client_id || '-' || :r || '@c' || :dom || '-bench.com","name":"New person","properties":{"plan":"free"}}')::jsonb);
