-- simpleproduct install script, part 3: the C triggers that keep identifiers
-- normalised and domain links true however rows arrive (the functions, plain
-- INSERT and UPDATE, COPY).

CREATE FUNCTION @extschema@.people_before_write() RETURNS trigger
	AS 'MODULE_PATHNAME', 'sp_people_before_write'
	LANGUAGE C;

CREATE TRIGGER people_before_write
	BEFORE INSERT OR UPDATE ON @extschema@.people
	FOR EACH ROW EXECUTE FUNCTION @extschema@.people_before_write();

CREATE FUNCTION @extschema@.organizations_before_write() RETURNS trigger
	AS 'MODULE_PATHNAME', 'sp_organizations_before_write'
	LANGUAGE C;

CREATE TRIGGER organizations_before_write
	BEFORE INSERT OR UPDATE ON @extschema@.organizations
	FOR EACH ROW EXECUTE FUNCTION @extschema@.organizations_before_write();

CREATE FUNCTION @extschema@.organizations_after_write() RETURNS trigger
	AS 'MODULE_PATHNAME', 'sp_organizations_after_write'
	LANGUAGE C;

CREATE TRIGGER organizations_after_write
	AFTER INSERT OR UPDATE OF domain ON @extschema@.organizations
	FOR EACH ROW EXECUTE FUNCTION @extschema@.organizations_after_write();

-- The identity history is append-only.
CREATE FUNCTION @extschema@.identity_history_append_only() RETURNS trigger
	AS 'MODULE_PATHNAME', 'sp_identity_history_append_only'
	LANGUAGE C;

CREATE TRIGGER identity_history_append_only
	BEFORE UPDATE OR DELETE ON @extschema@.identity_history
	FOR EACH ROW EXECUTE FUNCTION @extschema@.identity_history_append_only();

-- A renamed or deleted workspace must not stay in any session's cache.
CREATE FUNCTION @extschema@.workspaces_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'sp_workspaces_changed'
	LANGUAGE C;

CREATE TRIGGER workspaces_changed
	AFTER UPDATE OR DELETE ON @extschema@.workspaces
	FOR EACH ROW EXECUTE FUNCTION @extschema@.workspaces_changed();

-- The domains of organizations: normalised on the way in, and relinking
-- people whenever one joins or leaves an organization.
CREATE FUNCTION @extschema@.organization_domains_before_write()
	RETURNS trigger
	AS 'MODULE_PATHNAME', 'sp_organization_domains_before_write'
	LANGUAGE C;

CREATE TRIGGER organization_domains_before_write
	BEFORE INSERT OR UPDATE ON @extschema@.organization_domains
	FOR EACH ROW
	EXECUTE FUNCTION @extschema@.organization_domains_before_write();

CREATE FUNCTION @extschema@.organization_domains_after_write()
	RETURNS trigger
	AS 'MODULE_PATHNAME', 'sp_organization_domains_after_write'
	LANGUAGE C;

CREATE TRIGGER organization_domains_after_write
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.organization_domains
	FOR EACH ROW
	EXECUTE FUNCTION @extschema@.organization_domains_after_write();

-- Deleting an organization or one of its domains takes the workspace's
-- linking lock first, before any person is relinked.
CREATE FUNCTION @extschema@.organizations_before_delete() RETURNS trigger
	AS 'MODULE_PATHNAME', 'sp_organizations_before_delete'
	LANGUAGE C;

CREATE TRIGGER organizations_before_delete
	BEFORE DELETE ON @extschema@.organizations
	FOR EACH ROW EXECUTE FUNCTION @extschema@.organizations_before_delete();

CREATE TRIGGER organization_domains_before_delete
	BEFORE DELETE ON @extschema@.organization_domains
	FOR EACH ROW EXECUTE FUNCTION @extschema@.organizations_before_delete();

-- Writers of domains take the workspace's linking lock before they lock any
-- row (see organization_statement in src/linking.c).
CREATE FUNCTION @extschema@.organization_statement() RETURNS trigger
	AS 'MODULE_PATHNAME', 'sp_organization_statement'
	LANGUAGE C;

CREATE TRIGGER organizations_statement
	BEFORE INSERT OR UPDATE OF domain OR DELETE ON @extschema@.organizations
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.organization_statement();

CREATE TRIGGER organization_domains_statement
	BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.organization_domains
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.organization_statement();
