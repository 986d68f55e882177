-- What the REST server runs for POST /api/v1/people, called directly, as the
-- server's own role; the HTTP case's floor.
\set id random(1, :people)
\set dom :id % :domains
\set plan random(1, 1000000)
SELECT status, id, result FROM simpleproduct.api_post_person(:key, '{"externalId":"u' || :id || '","email":"u' || :id || '@c' || :dom || '-bench.com","properties":{"plan":"p' || :plan || '"}}');
