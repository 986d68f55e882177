-- Organizations and domain linking.

-- One organization per normalised domain: case, scheme, path, port and a
-- leading www. are stripped; IDN domains are stored in ASCII form.
SELECT t.shape(simpleproduct.sp_upsert_org('{"name": "Globex", "domain": "globex.example"}'));
SELECT r->>'created' AS created, r->>'domain' AS domain
FROM simpleproduct.sp_upsert_org('{"domain": "GLOBEX.EXAMPLE"}') r;
SELECT r->>'created' AS created, r->>'domain' AS domain
FROM simpleproduct.sp_upsert_org('{"domain": "https://www.globex.example:8443/about?x=1#top"}') r;
SELECT count(*) FROM simpleproduct.organizations WHERE domain = 'globex.example';
SELECT simpleproduct.sp_upsert_org('{"domain": "bücher.example"}')->>'domain';
SELECT simpleproduct.sp_upsert_org('{"domain": "xn--bcher-kva.example"}')->>'created';
SELECT simpleproduct.normalize_domain(' HTTP://User@WWW.Acme.CO.UK./x ');

-- name absent keeps, null clears; properties merge.
SELECT r->>'name' AS name, r->'properties' AS properties
FROM simpleproduct.sp_upsert_org('{"domain": "globex.example", "properties": {"seats": 5, "tier": "gold"}}') r;
SELECT r->'name' AS name, r->'properties' AS properties
FROM simpleproduct.sp_upsert_org('{"domain": "globex.example", "name": null, "properties": {"tier": null}}') r;

-- Public suffixes, public email providers and junk are not organizations.
SELECT t.err($$SELECT simpleproduct.sp_upsert_org('{"domain": "com"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_upsert_org('{"domain": "co.uk"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_upsert_org('{"domain": "github.io"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_upsert_org('{"domain": "gmail.com"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_upsert_org('{"domain": "https://mail.yahoo.com/"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_upsert_org('{"domain": "not a domain"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_upsert_org('{"name": "No Domain"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_upsert_org('{"domain": 5}')$$);
SELECT t.err($$SELECT simpleproduct.sp_upsert_org('{"domain": "x.example", "name": 5}')$$);
SELECT simpleproduct.sp_upsert_org('{"domain": "co.uk"}');
SELECT simpleproduct.sp_upsert_org('{"domain": "outlook.com"}');
SELECT t.err($$INSERT INTO simpleproduct.organizations (domain) VALUES ('gmail.com')$$);
SELECT simpleproduct.registrable_domain('a.b.example.co.uk'),
	simpleproduct.registrable_domain('co.uk'),
	simpleproduct.is_public_email_provider('GMAIL.com'),
	simpleproduct.is_public_email_provider('acme.com');

-- Linking: the organization whose domain is the email's domain or its
-- nearest parent.
SELECT simpleproduct.sp_upsert_org('{"name": "Initech", "domain": "initech.example"}')->>'id' AS initech \gset
SELECT simpleproduct.sp_identify('{"email": "ann@eu.initech.example"}')->'organization'->>'name';
SELECT simpleproduct.sp_upsert_org('{"name": "Initech EU", "domain": "eu.initech.example"}')->>'id' AS initech_eu \gset
-- the new, nearer organization picks its people up
SELECT simpleproduct.sp_find_person('{"email": "ann@eu.initech.example"}')->'organization'->>'name';
SELECT simpleproduct.sp_identify('{"email": "bob@initech.example"}')->'organization'->>'name';
SELECT simpleproduct.sp_identify('{"email": "cy@x.eu.initech.example"}')->'organization'->>'name';
-- a farther parent does not take people from a nearer one
SELECT simpleproduct.sp_upsert_org('{"name": "Initech again", "domain": "initech.example"}')->>'created';
SELECT simpleproduct.sp_find_person('{"email": "cy@x.eu.initech.example"}')->'organization'->>'name';

-- Never above the registrable domain: an organization at example.co.uk's
-- level cannot exist, and a.example.co.uk people link only within it.
SELECT simpleproduct.sp_upsert_org('{"name": "Wonka", "domain": "wonka.co.uk"}')->>'created';
SELECT simpleproduct.sp_identify('{"email": "ann@wonka.co.uk"}')->'organization'->>'name';
SELECT simpleproduct.sp_identify('{"email": "ann@other.co.uk"}')->'organization';

-- A private public suffix bounds linking too: people at user.github.io are
-- not linked to an organization at another user's github.io site.
SELECT simpleproduct.sp_upsert_org('{"name": "Octo", "domain": "octo.github.io"}')->>'domain';
SELECT simpleproduct.sp_identify('{"email": "x@octo.github.io"}')->'organization'->>'name';
SELECT simpleproduct.sp_identify('{"email": "x@cat.github.io"}')->'organization';

-- People at public email providers are never linked by domain.
SELECT simpleproduct.sp_identify('{"email": "someone@gmail.com"}')->'organization';
SELECT email_root FROM simpleproduct.people WHERE email = 'someone@gmail.com';

-- Linking holds for plain INSERT, UPDATE and COPY.
INSERT INTO simpleproduct.people (email) VALUES ('ins@initech.example');
SELECT o.name FROM simpleproduct.people p JOIN simpleproduct.organizations o ON o.id = p.organization_id
WHERE p.email = 'ins@initech.example';
UPDATE simpleproduct.people SET email = 'ins@eu.initech.example' WHERE email = 'ins@initech.example';
SELECT o.name FROM simpleproduct.people p JOIN simpleproduct.organizations o ON o.id = p.organization_id
WHERE p.email = 'ins@eu.initech.example';
UPDATE simpleproduct.people SET email = 'ins@gmail.com' WHERE email = 'ins@eu.initech.example';
SELECT organization_id IS NULL AS unlinked FROM simpleproduct.people WHERE email = 'ins@gmail.com';
COPY simpleproduct.people (email, name) FROM stdin;
Copy@EU.Initech.example	Copied
\.
SELECT p.email, o.name FROM simpleproduct.people p JOIN simpleproduct.organizations o ON o.id = p.organization_id
WHERE p.name = 'Copied';

-- An organization inserted or re-domained by plain SQL picks up its people.
SELECT simpleproduct.sp_identify('{"email": "dee@hooli.example"}')->'organization';
INSERT INTO simpleproduct.organizations (name, domain) VALUES ('Hooli', 'WWW.Hooli.example');
SELECT simpleproduct.sp_find_person('{"email": "dee@hooli.example"}')->'organization'->>'name';
UPDATE simpleproduct.organizations SET domain = 'hooli.test' WHERE name = 'Hooli';
SELECT simpleproduct.sp_find_person('{"email": "dee@hooli.example"}')->'organization';
SELECT simpleproduct.sp_identify('{"email": "eve@hooli.test"}')->'organization'->>'name';
-- re-domained through the function, by id
SELECT simpleproduct.sp_upsert_org(jsonb_build_object('id', id, 'domain', 'hooli.example'))->>'domain'
FROM simpleproduct.organizations WHERE name = 'Hooli';
SELECT simpleproduct.sp_find_person('{"email": "dee@hooli.example"}')->'organization'->>'name',
	simpleproduct.sp_find_person('{"email": "eve@hooli.test"}')->'organization';

-- Deleting the nearer organization falls back to the farther parent.
DELETE FROM simpleproduct.organizations WHERE id = :'initech_eu';
SELECT simpleproduct.sp_find_person('{"email": "ann@eu.initech.example"}')->'organization'->>'name';

-- An explicit link set by the caller is never overwritten by the automatic
-- one, even when the email changes or a nearer organization appears.
UPDATE simpleproduct.people SET organization_id = (SELECT id FROM simpleproduct.organizations WHERE name = 'Hooli')
WHERE email = 'bob@initech.example';
SELECT organization_explicit FROM simpleproduct.people WHERE email = 'bob@initech.example';
SELECT simpleproduct.sp_upsert_org('{"name": "Initech EU 2", "domain": "eu.initech.example"}')->>'created';
UPDATE simpleproduct.people SET email = 'bob@eu.initech.example' WHERE email = 'bob@initech.example';
SELECT simpleproduct.sp_find_person('{"email": "bob@eu.initech.example"}')->'organization'->>'name';
SELECT simpleproduct.sp_identify('{"email": "bob@eu.initech.example", "name": "Bob"}')->'organization'->>'name';
-- clearing the link returns the person to automatic linking
UPDATE simpleproduct.people SET organization_id = NULL WHERE email = 'bob@eu.initech.example';
SELECT p.organization_explicit, o.name FROM simpleproduct.people p
JOIN simpleproduct.organizations o ON o.id = p.organization_id WHERE p.email = 'bob@eu.initech.example';

-- sp_find_org: by id or domain; NULL when none.
SELECT simpleproduct.sp_find_org('{"domain": "https://www.Globex.example/"}')->>'domain';
SELECT simpleproduct.sp_find_org(jsonb_build_object('id', :'initech'))->>'name';
SELECT simpleproduct.sp_find_org('{"domain": "nobody.example"}') IS NULL AS none;
SELECT simpleproduct.sp_find_org('{"id": "nope"}') IS NULL AS none;
SELECT t.err($$SELECT simpleproduct.sp_find_org('{}')$$);
SELECT t.err($$SELECT simpleproduct.sp_upsert_org('{"id": "00000000-0000-0000-0000-000000000000", "name": "x"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_upsert_org(jsonb_build_object('id', (SELECT id FROM simpleproduct.organizations WHERE name = 'Hooli'), 'domain', 'globex.example'))$$);

-- An organization may have several domains: people at any of them link to
-- it, and any of them finds it.
SELECT simpleproduct.sp_upsert_org('{"name": "Umbrella", "domain": "umbrella.example", "domains": ["umbrella-corp.example", "https://www.UMB.example/"]}')->'domains';
SELECT simpleproduct.sp_identify('{"email": "al@umb.example"}')->'organization'->>'name';
SELECT simpleproduct.sp_identify('{"email": "bo@x.umbrella-corp.example"}')->'organization'->>'name';
SELECT simpleproduct.sp_find_org('{"domain": "umbrella-corp.example"}')->>'name';
-- a further domain finds its organization, whose primary domain stays
SELECT r->>'created' AS created, r->>'domain' AS domain, r->'properties' AS properties
FROM simpleproduct.sp_upsert_org('{"domain": "umb.example", "properties": {"x": 1}}') r;
-- dropping a domain relinks its people; domains absent keeps them
SELECT simpleproduct.sp_upsert_org('{"domain": "umbrella.example"}')->'domains';
SELECT simpleproduct.sp_upsert_org('{"domain": "umbrella.example", "domains": ["umbrella-corp.example"]}')->'domains';
SELECT simpleproduct.sp_find_person('{"email": "al@umb.example"}')->'organization';
SELECT simpleproduct.sp_find_person('{"email": "bo@x.umbrella-corp.example"}')->'organization'->>'name';
-- a domain of another organization is a conflict; bad domains are refused
SELECT t.err($$SELECT simpleproduct.sp_upsert_org('{"domain": "globex.example", "domains": ["umbrella-corp.example"]}')$$);
SELECT t.err($$SELECT simpleproduct.sp_upsert_org('{"domain": "umbrella.example", "domains": ["gmail.com"]}')$$);
SELECT t.err($$SELECT simpleproduct.sp_upsert_org('{"domain": "umbrella.example", "domains": "x.example"}')$$);
SELECT t.err($$SELECT simpleproduct.sp_upsert_org('{"domain": "umbrella.example", "domains": [1]}')$$);
-- the owner of a further domain is found by it, not duplicated
SELECT r->>'created' AS created, r->>'name' AS name
FROM simpleproduct.sp_upsert_org('{"domain": "umbrella-corp.example"}') r;
-- deleting an organization relinks the people of all its domains
SELECT simpleproduct.sp_upsert_org('{"name": "Corp EU", "domain": "corp.example"}')->>'created';
SELECT simpleproduct.sp_upsert_org('{"domain": "umbrella.example", "domains": ["umbrella-corp.example", "x.corp.example"]}')->'domains';
SELECT simpleproduct.sp_identify('{"email": "cy@x.corp.example"}')->'organization'->>'name';
DELETE FROM simpleproduct.organizations WHERE domain = 'umbrella.example';
SELECT simpleproduct.sp_find_person('{"email": "cy@x.corp.example"}')->'organization'->>'name',
	simpleproduct.sp_find_person('{"email": "bo@x.umbrella-corp.example"}')->'organization';
SELECT count(*) FROM simpleproduct.organization_domains WHERE domain LIKE '%umbrella%';

-- organization_domains by hand: further domains may be added and removed,
-- but no row rewritten, and the primary one only follows its organization.
SELECT simpleproduct.sp_upsert_org('{"name": "Hand", "domain": "hand.example"}')->>'id' AS hand \gset
INSERT INTO simpleproduct.organization_domains (workspace_id, organization_id, domain)
VALUES (1, :'hand', 'WWW.Hand-Two.example');
SELECT simpleproduct.sp_find_org('{"domain": "hand-two.example"}')->'domains';
SELECT t.err($$UPDATE simpleproduct.organization_domains SET domain = 'hand-three.example' WHERE domain = 'hand-two.example'$$);
SELECT t.err($$DELETE FROM simpleproduct.organization_domains WHERE domain = 'hand.example'$$);
SELECT t.err(format($$INSERT INTO simpleproduct.organization_domains (workspace_id, organization_id, domain, is_primary) VALUES (1, '%s', 'hand-four.example', true)$$, :'hand'));
DELETE FROM simpleproduct.organization_domains WHERE domain = 'hand-two.example';
SELECT simpleproduct.sp_find_org(jsonb_build_object('id', :'hand'))->'domains';
