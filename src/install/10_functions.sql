-- simpleproduct install script, part 2: the C functions of the SQL surface.
-- All take and return jsonb; keys are camelCase as in the public REST API.

-- Create or update a person, resolving identity by externalId, then email.
CREATE FUNCTION @extschema@.sp_identify(person jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'sp_identify'
	LANGUAGE C VOLATILE STRICT;

-- Store feedback, resolving (and creating if need be) its person.
CREATE FUNCTION @extschema@.sp_feedback(feedback jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'sp_feedback'
	LANGUAGE C VOLATILE STRICT;

-- Create or update an organization, identified by its normalised domain.
CREATE FUNCTION @extschema@.sp_upsert_org(organization jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'sp_upsert_org'
	LANGUAGE C VOLATILE STRICT;

-- Look a person up by {"id"}, {"email"} or {"externalId"}; NULL when none.
CREATE FUNCTION @extschema@.sp_find_person(lookup jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'sp_find_person'
	LANGUAGE C STABLE STRICT;

-- Look an organization up by {"id"} or {"domain"}; NULL when none.
CREATE FUNCTION @extschema@.sp_find_org(lookup jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'sp_find_org'
	LANGUAGE C STABLE STRICT;

-- Helpers, exposed because they are useful on their own and in tests.

-- An email address as simpleproduct stores it: trimmed, lower-cased, with
-- its domain in ASCII (punycode) form.  Errors on an invalid address.
-- Stable, not immutable: a non-ASCII local part is lower-cased by the
-- database's collation.
CREATE FUNCTION @extschema@.normalize_email(email text) RETURNS text
	AS 'MODULE_PATHNAME', 'sp_normalize_email_sql'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- A domain as an organization stores it: scheme, path, port and a leading
-- "www." stripped, lower-cased, in ASCII form.  Errors on an invalid domain.
CREATE FUNCTION @extschema@.normalize_domain(domain text) RETURNS text
	AS 'MODULE_PATHNAME', 'sp_normalize_domain_sql'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- The registrable domain of a domain (Public Suffix List), NULL for a
-- public suffix.
CREATE FUNCTION @extschema@.registrable_domain(domain text) RETURNS text
	AS 'MODULE_PATHNAME', 'sp_registrable_domain'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Whether a domain belongs to a public email provider (gmail.com, ...).
CREATE FUNCTION @extschema@.is_public_email_provider(domain text)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'sp_is_public_email_provider'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- RFC 7396 JSON Merge Patch: patch applied to target.
CREATE FUNCTION @extschema@.merge_patch(target jsonb, patch jsonb)
	RETURNS jsonb
	AS 'MODULE_PATHNAME', 'sp_merge_patch_sql'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Identity history, undo and erasure.

-- A person's identity history, oldest first; NULL for an unknown id.
CREATE FUNCTION @extschema@.sp_person_history(lookup jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'sp_person_history'
	LANGUAGE C STABLE STRICT;

-- Reverse the latest merge of {"id": <merged person's id>}.
CREATE FUNCTION @extschema@.sp_unmerge(request jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'sp_unmerge'
	LANGUAGE C VOLATILE STRICT;

-- Erase {"id", "deleteFeedback", "suppress"}: the person, their history
-- and identifiers; feedback kept unlinked unless deleteFeedback.
CREATE FUNCTION @extschema@.sp_erase_person(request jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'sp_erase_person'
	LANGUAGE C VOLATILE STRICT;

-- Let a suppressed {"externalId"} or {"email"} identify people again.
CREATE FUNCTION @extschema@.sp_unsuppress(identifier jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'sp_unsuppress'
	LANGUAGE C VOLATILE STRICT;

-- Recompute the workspace's domain links after the public email provider
-- list or the Public Suffix List changed; {"batchSize": n} is optional.
CREATE FUNCTION @extschema@.sp_relink(options jsonb DEFAULT '{}')
	RETURNS jsonb
	AS 'MODULE_PATHNAME', 'sp_relink'
	LANGUAGE C VOLATILE STRICT;
