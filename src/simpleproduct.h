/*
 * simpleproduct.h
 *		Declarations shared by the parts of the simpleproduct extension.
 *
 * The extension keeps people, organizations and feedback in the schema
 * "simpleproduct" and resolves identities there.  Each .c file is one
 * feature: normalisation of identifiers, JSON Merge Patch, the person and
 * organization rows, identity resolution, feedback, and the linking
 * triggers.  This header is what they share.
 */
#ifndef SIMPLEPRODUCT_H
#define SIMPLEPRODUCT_H

#include "postgres.h"

#include "executor/spi.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/*
 * SQLSTATEs are the REST layer's contract (see README.md):
 *	22P02 malformed JSON, 42804 wrong JSON type  -> 400
 *	22023 invalid value, 22001 value too long    -> 422
 *	P0002 not found                              -> 404
 *	SP001 identity conflict under "reject"       -> 409
 *	SP002 identifier of an erased person         -> 409
 */
#define ERRCODE_SP_IDENTITY_CONFLICT	MAKE_SQLSTATE('S','P','0','0','1')
#define ERRCODE_SP_IDENTIFIER_SUPPRESSED	MAKE_SQLSTATE('S','P','0','0','2')

/* Longest externalId accepted, in characters. */
#define SP_EXTERNAL_ID_MAX_CHARS	255

/*
 * Operators in the extension's queries are named with their schema, so
 * that a hostile search_path cannot change what a query means.
 */
#define EQ " OPERATOR(pg_catalog.=) "

/* A saved SPI plan, prepared on first use and kept for the backend's life. */
typedef struct SpPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[12];
	SPIPlanPtr	plan;
} SpPlan;

/*
 * The columns a person is read with, the name and domain of its
 * organization included, so that returning a person costs no further query.
 */
#define SP_ORGANIZATION_OF_PERSON(column) \
	"(SELECT o." column " FROM simpleproduct.organizations o" \
	" WHERE o.workspace_id OPERATOR(pg_catalog.=) people.workspace_id" \
	" AND o.id OPERATOR(pg_catalog.=) people.organization_id)"
#define SP_PERSON_COLUMNS \
	"id, external_id, email, name, properties, organization_id," \
	" organization_explicit, last_seen_at, created_at, updated_at, " \
	SP_ORGANIZATION_OF_PERSON("name") ", " \
	SP_ORGANIZATION_OF_PERSON("domain")

/* A person row as the functions read it. */
typedef struct SpPerson
{
	pg_uuid_t	id;
	char	   *external_id;	/* NULL when none */
	char	   *email;			/* NULL when none */
	char	   *name;			/* NULL when none */
	Jsonb	   *properties;
	bool		has_organization;
	pg_uuid_t	organization_id;
	bool		organization_explicit;
	bool		has_last_seen;
	TimestampTz last_seen_at;
	TimestampTz created_at;
	TimestampTz updated_at;
	bool		organization_loaded;	/* the two below were read */
	char	   *organization_name;
	char	   *organization_domain;
} SpPerson;

/* What a caller gave to identify a person (already validated). */
typedef struct SpIdentity
{
	char	   *external_id;	/* normalised, or NULL when not given */
	char	   *email;			/* normalised, or NULL when not given */
	bool		name_given;		/* "name" present (possibly null) */
	char	   *name;			/* NULL clears when name_given */
	Jsonb	   *properties;		/* merge patch, or NULL when not given */
	Jsonb	   *set_once;		/* keys written only when absent, or NULL */
	bool		organization_given; /* "organization" present */
	bool		organization_by_id; /* ... as {"id"}, else {"domain"} */
	pg_uuid_t	organization_id;	/* with organization_by_id */
	char	   *organization_domain;	/* normalised, or NULL for null */
	char	   *organization_name;	/* name for an organization created */
	bool		referenced;		/* the caller will reference the person */
} SpIdentity;

/* simpleproduct.c: SPI and JSON helpers */
extern int	sp_execute(SpPlan *plan, Datum *values, const char *nulls,
					   bool read_only, long count);
extern Jsonb *sp_jsonb_for_caller(Jsonb *value);
extern bool sp_strings_differ(const char *a, const char *b);
extern bool sp_jsonb_differ(Jsonb *a, Jsonb *b);
extern char *sp_uuid_text(const pg_uuid_t *uuid);
extern TimestampTz sp_parse_timestamp(const char *text);
extern JsonbValue *sp_json_get(Jsonb *object, const char *key);
extern void sp_require_object(Jsonb *input, const char *what);
extern char *sp_json_string(Jsonb *object, const char *key, bool *present);
extern Jsonb *sp_json_object(Jsonb *object, const char *key, bool *present);
extern void sp_push_key(JsonbParseState **state, const char *key);
extern void sp_push_string(JsonbParseState **state, const char *key,
						   const char *value);
extern void sp_push_bool(JsonbParseState **state, const char *key,
						 bool value);
extern void sp_push_int64(JsonbParseState **state, const char *key,
						  int64 value);
extern void sp_push_uuid(JsonbParseState **state, const char *key,
						 const pg_uuid_t *value);
extern void sp_push_timestamp(JsonbParseState **state, const char *key,
							  bool isnull, TimestampTz value);
extern void sp_push_jsonb(JsonbParseState **state, const char *key,
						  Jsonb *value);
extern bool sp_parse_uuid(const char *text, pg_uuid_t *uuid);

/* workspace.c */
extern void sp_workspace_init(void);
extern int64 sp_current_workspace(void);
extern bool sp_workspace_rejects_conflicts(int64 workspace_id);

/* normalize.c */
extern char *sp_normalize_email(const char *input, bool raise,
								char **domain);
extern char *sp_normalize_domain(const char *input, bool raise);
extern char *sp_organization_domain(const char *input);
extern char *sp_registrable(const char *ascii_domain);
extern bool sp_is_email_provider(const char *ascii_domain);
extern char *sp_email_root(const char *ascii_domain);
extern char *sp_normalize_external_id(const char *input, int len);
extern char *sp_json_external_id(Jsonb *object, bool *present);

/* merge_patch.c */
extern Jsonb *sp_merge_patch(Jsonb *target, Jsonb *patch);
extern Jsonb *sp_fill_missing(Jsonb *base, Jsonb *filler);
extern Jsonb *sp_empty_object(void);

/* person.c */
extern bool sp_person_by_external_id(int64 workspace_id, const char *id,
									 bool lock, SpPerson *person);
extern bool sp_person_by_email(int64 workspace_id, const char *email,
							   bool lock, SpPerson *person);
extern bool sp_person_by_id(int64 workspace_id, const pg_uuid_t *id,
							bool follow_alias, bool lock, SpPerson *person);
extern void sp_person_from_current_row(SpPerson *person);
extern void sp_person_insert(int64 workspace_id, const SpPerson *values,
							 SpPerson *result);
extern void sp_person_update(int64 workspace_id, const SpPerson *values,
							 SpPerson *result);
extern void sp_person_delete(int64 workspace_id, const pg_uuid_t *id);
extern void sp_person_restore(int64 workspace_id, const SpPerson *values,
							  SpPerson *result);
extern void sp_person_from_snapshot(Jsonb *snapshot, SpPerson *person);
extern bool sp_person_same_values(const SpPerson *a, const SpPerson *b);
extern Jsonb *sp_person_identifiers(const SpPerson *person, bool whole);
extern bool sp_identity_changed;
extern void sp_history_append(int64 workspace_id, const pg_uuid_t *person,
							  const char *event, const pg_uuid_t *other,
							  Jsonb *before, Jsonb *after);
extern void sp_push_person(JsonbParseState **state, int64 workspace_id,
						   const SpPerson *person);
extern Jsonb *sp_person_to_jsonb(int64 workspace_id, const SpPerson *person,
								 int created);

/* identify.c */
extern void sp_lock_identifier(int64 workspace_id, char kind,
							   const char *identifier);
extern void sp_lock_workspace_linking(int64 workspace_id, bool exclusive);
extern void sp_lock_person_identifiers(int64 workspace_id,
									   const char *external_id,
									   const char *email);
extern void sp_parse_identity(Jsonb *input, SpIdentity *identity);
extern bool sp_resolve_person(int64 workspace_id, const SpIdentity *identity,
							  SpPerson *person, bool *created);

/* organization.c */
extern void sp_organization_for_link(int64 workspace_id,
									 const SpIdentity *identity,
									 SpPerson *person);
extern void sp_push_organization_brief(JsonbParseState **state,
									   int64 workspace_id,
									   const pg_uuid_t *id);

/* erase.c */
extern bool sp_history_erase_allowed;
extern void sp_check_not_suppressed(int64 workspace_id, const char *kind,
									const char *value);

/* linking.c */
extern void sp_add_organization_domain(int64 workspace_id,
									   const pg_uuid_t *organization,
									   const char *domain, bool primary);
extern bool sp_best_organization(int64 workspace_id, const char *email_domain,
								 const char *email_root, pg_uuid_t *result);

#endif							/* SIMPLEPRODUCT_H */
