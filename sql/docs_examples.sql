-- The public API docs' own examples, replayed through SQL: John Doe is
-- linked to Acme Inc and his feedback to him.

SELECT jsonb_pretty(t.shape(simpleproduct.sp_upsert_org('{
	"name": "Acme Inc",
	"domain": "acme.com",
	"properties": {"plan": "enterprise", "seats": 50, "industry": "Technology"}
}')));

SELECT jsonb_pretty(t.shape(simpleproduct.sp_identify('{
	"externalId": "user_123",
	"email": "john@acme.com",
	"name": "John Doe",
	"properties": {"plan": "pro"}
}')));

SELECT jsonb_pretty(t.shape(simpleproduct.sp_feedback('{
	"title": "Feedback",
	"content": "Love the new feature!",
	"externalId": "user_123",
	"source": "feedback-modal"
}')));

-- Links, as stored.
SELECT p.name, o.name AS organization, f.content, f.source
FROM simpleproduct.feedback f
JOIN simpleproduct.people p ON p.id = f.person_id
LEFT JOIN simpleproduct.organizations o ON o.id = p.organization_id
WHERE p.external_id = 'user_123';

-- The docs' People API request body: the person is found by
-- externalId and takes the new email (so leaves Acme Inc).
SELECT r->>'created' AS created, r->>'email' AS email, r->'properties' AS properties
FROM simpleproduct.sp_identify('{
	"email": "customer@example.com",
	"name": "John Doe",
	"externalId": "user_123",
	"properties": {"plan": "pro", "company": "Acme Inc"}
}') r;
