/*
 * erase.c
 *		Erasing a person, and suppressing the identifiers of erased people.
 *
 * sp_erase_person removes a person with their history and identifiers.
 * Their feedback stays without the link, or goes too when asked.  With
 * "suppress", the identifiers they hold or ever held (by their history)
 * are kept only as salted SHA-256 hashes (the workspace's salt, the kind and
 * the value), so that identifying with them again is refused until
 * sp_unsuppress lifts it.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "simpleproduct.h"


/* The salted hash of identifier $3 of kind $2 in workspace $1. */
#define SUPPRESSION_HASH \
	"pg_catalog.sha256(w.salt OPERATOR(pg_catalog.||) pg_catalog.convert_to(" \
	"$2 OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) $3, 'UTF8'))"

/* Set while an erase deletes history rows, which are otherwise immutable. */
bool		sp_history_erase_allowed = false;

/*
 * Refuse an identifier that belongs to an erased, suppressed person.
 */
void
sp_check_not_suppressed(int64 workspace_id, const char *kind,
						const char *value)
{
	static SpPlan plan = {
		"SELECT FROM simpleproduct.suppressed_identifiers s"
		" JOIN simpleproduct.workspaces w ON w.id" EQ "s.workspace_id"
		" WHERE s.workspace_id" EQ "$1 AND s.kind" EQ "$2"
		" AND s.hash" EQ SUPPRESSION_HASH,
		3, {INT8OID, TEXTOID, TEXTOID}
	};
	Datum		values[3];

	values[0] = Int64GetDatum(workspace_id);
	values[1] = CStringGetTextDatum(kind);
	values[2] = CStringGetTextDatum(value);
	sp_execute(&plan, values, NULL, true, 1);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_SP_IDENTIFIER_SUPPRESSED),
				 errmsg("%s \"%s\" belongs to an erased person and is suppressed",
						kind, value),
				 errhint("Call simpleproduct.sp_unsuppress('{\"%s\": ...}') if the person asked to come back.",
						 kind)));
}

#define OP(o) " OPERATOR(pg_catalog." o ") "

/*
 * Suppress every identifier a person to be erased holds or ever held (its
 * history still there), but for those another person holds now: store
 * their salted hashes.
 */
static void
suppress_identifiers_of(int64 workspace_id, const SpPerson *person)
{
	static SpPlan plan = {
		"INSERT INTO simpleproduct.suppressed_identifiers"
		" (workspace_id, kind, hash)"
		" SELECT DISTINCT $1, i.kind, pg_catalog.sha256(w.salt" OP("||")
		"  pg_catalog.convert_to(i.kind" OP("||") "':'" OP("||") "i.value,"
		"  'UTF8'))"
		" FROM simpleproduct.workspaces w,"
		" (SELECT 'externalId'::pg_catalog.text AS kind, $3 AS value"
		"  UNION ALL SELECT 'email', $4"
		"  UNION ALL SELECT k.kind, s.snapshot" OP("->>") "k.kind"
		"  FROM simpleproduct.identity_history h,"
		"   LATERAL (VALUES (h.before), (h.after),"
		"    (h.before" OP("->") "'person'),"
		"    (h.before" OP("->") "'merged')) AS s(snapshot),"
		"   (VALUES ('externalId'::pg_catalog.text), ('email')) AS k(kind)"
		"  WHERE h.workspace_id" EQ "$1 AND h.person_id" EQ "$2) AS i"
		" WHERE w.id" EQ "$1 AND i.value IS NOT NULL"
		" AND NOT EXISTS (SELECT FROM simpleproduct.people q"
		"  WHERE q.workspace_id" EQ "$1 AND q.id" OP("<>") "$2"
		"  AND ((i.kind" EQ "'externalId' AND q.external_id" EQ "i.value)"
		"   OR (i.kind" EQ "'email' AND q.email" EQ "i.value)))"
		" ON CONFLICT DO NOTHING",
		4, {INT8OID, UUIDOID, TEXTOID, TEXTOID}
	};
	Datum		values[4];
	char		nulls[5] = "    ";

	values[0] = Int64GetDatum(workspace_id);
	values[1] = UUIDPGetDatum(&person->id);
	values[2] = person->external_id ?
		CStringGetTextDatum(person->external_id) : (Datum) 0;
	nulls[2] = person->external_id ? ' ' : 'n';
	values[3] = person->email ? CStringGetTextDatum(person->email) : 0;
	nulls[3] = person->email ? ' ' : 'n';
	sp_execute(&plan, values, nulls, false, 0);
}

/*
 * Delete every history row about a person, or about the people merged
 * into them.
 */
static void
erase_history(int64 workspace_id, const pg_uuid_t *id)
{
	static SpPlan plan = {
		"DELETE FROM simpleproduct.identity_history h"
		" WHERE h.workspace_id" EQ "$1"
		" AND (h.person_id" EQ "$2 OR h.other_person_id" EQ "$2"
		"  OR h.person_id IN (SELECT a.alias_id"
		"   FROM simpleproduct.person_aliases a"
		"   WHERE a.workspace_id" EQ "$1 AND a.person_id" EQ "$2)"
		"  OR h.other_person_id IN (SELECT a.alias_id"
		"   FROM simpleproduct.person_aliases a"
		"   WHERE a.workspace_id" EQ "$1 AND a.person_id" EQ "$2))",
		2, {INT8OID, UUIDOID}
	};
	Datum		values[2];

	values[0] = Int64GetDatum(workspace_id);
	values[1] = UUIDPGetDatum(id);
	sp_history_erase_allowed = true;
	PG_TRY();
	{
		sp_execute(&plan, values, NULL, false, 0);
	}
	PG_CATCH();
	{
		sp_history_erase_allowed = false;
		PG_RE_THROW();
	}
	PG_END_TRY();
	sp_history_erase_allowed = false;
}

/*
 * Read an optional boolean member; absent or null is false.
 */
static bool
json_flag(Jsonb *input, const char *key)
{
	JsonbValue *value = sp_json_get(input, key);

	if (value == NULL || value->type == jbvNull)
		return false;
	if (value->type != jbvBool)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("\"%s\" must be true or false", key)));
	return value->val.boolean;
}

/*
 * Find and lock the person to erase: their identifiers' locks first (as
 * identify takes them), then the row, retrying if the identifiers changed
 * in between.
 */
static bool
lock_person_to_erase(int64 workspace_id, const pg_uuid_t *id,
					 SpPerson *person)
{
	SpPerson	seen;

	if (!sp_person_by_id(workspace_id, id, true, false, &seen))
		return false;
	for (;;)
	{
		sp_lock_person_identifiers(workspace_id, seen.external_id,
								   seen.email);
		if (!sp_person_by_id(workspace_id, &seen.id, false, true, person))
			return false;
		if (!sp_strings_differ(seen.external_id, person->external_id) &&
			!sp_strings_differ(seen.email, person->email))
			return true;
		seen = *person;
	}
}

PG_FUNCTION_INFO_V1(sp_erase_person);

/*
 * SQL: simpleproduct.sp_erase_person(jsonb).  {"id", "deleteFeedback",
 * "suppress"}; a merged id erases its survivor.  Returns what was done.
 */
Datum
sp_erase_person(PG_FUNCTION_ARGS)
{
	static SpPlan delete_feedback = {
		"DELETE FROM simpleproduct.feedback"
		" WHERE workspace_id" EQ "$1 AND person_id" EQ "$2",
		2, {INT8OID, UUIDOID}
	};
	static SpPlan unlink_feedback = {
		"UPDATE simpleproduct.feedback SET person_id = NULL"
		" WHERE workspace_id" EQ "$1 AND person_id" EQ "$2",
		2, {INT8OID, UUIDOID}
	};
	Jsonb	   *input = PG_GETARG_JSONB_P(0);
	bool		present;
	char	   *id_text;
	pg_uuid_t	id;
	bool		delete_its_feedback;
	bool		suppress_identifiers;
	int64		workspace_id;
	SpPerson	person;
	Datum		values[2];
	uint64		feedback_count;
	JsonbParseState *state = NULL;
	Jsonb	   *result;

	sp_require_object(input, "the erase request");
	id_text = sp_json_string(input, "id", &present);
	if (id_text == NULL || !sp_parse_uuid(id_text, &id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("erasing a person needs their \"id\""),
				 errhint("Pass {\"id\": \"<person id>\"}.")));
	delete_its_feedback = json_flag(input, "deleteFeedback");
	suppress_identifiers = json_flag(input, "suppress");

	workspace_id = sp_current_workspace();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!lock_person_to_erase(workspace_id, &id, &person))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("person %s does not exist", id_text)));

	values[0] = Int64GetDatum(workspace_id);
	values[1] = UUIDPGetDatum(&person.id);
	sp_execute(delete_its_feedback ? &delete_feedback : &unlink_feedback,
			   values, NULL, false, 0);
	feedback_count = SPI_processed;

	if (suppress_identifiers)
		suppress_identifiers_of(workspace_id, &person);
	erase_history(workspace_id, &person.id);
	sp_person_delete(workspace_id, &person.id);
	sp_history_append(workspace_id, &person.id, "erase", NULL, NULL, NULL);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	sp_push_uuid(&state, "id", &person.id);
	sp_push_bool(&state, "erased", true);
	sp_push_int64(&state, delete_its_feedback ? "feedbackDeleted" :
				  "feedbackUnlinked", (int64) feedback_count);
	sp_push_bool(&state, "suppressed", suppress_identifiers);
	result = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
	result = sp_jsonb_for_caller(result);
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}

PG_FUNCTION_INFO_V1(sp_unsuppress);

/*
 * SQL: simpleproduct.sp_unsuppress(jsonb).  {"externalId"} or {"email"}:
 * lets the identifier be used again.  Returns {"unsuppressed": bool}.
 */
Datum
sp_unsuppress(PG_FUNCTION_ARGS)
{
	static SpPlan plan = {
		"DELETE FROM simpleproduct.suppressed_identifiers s"
		" USING simpleproduct.workspaces w"
		" WHERE w.id" EQ "$1 AND s.workspace_id" EQ "$1"
		" AND s.kind" EQ "$2 AND s.hash" EQ SUPPRESSION_HASH,
		3, {INT8OID, TEXTOID, TEXTOID}
	};
	Jsonb	   *input = PG_GETARG_JSONB_P(0);
	bool		has_external_id;
	bool		has_email;
	char	   *external_id;
	char	   *email;
	int64		workspace_id;
	Datum		values[3];
	JsonbParseState *state = NULL;
	Jsonb	   *result;

	sp_require_object(input, "the identifier");
	external_id = sp_json_external_id(input, &has_external_id);
	email = sp_json_string(input, "email", &has_email);
	if ((external_id == NULL) == (email == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("give exactly one of \"externalId\" or \"email\"")));
	if (email != NULL)
		email = sp_normalize_email(email, true, NULL);

	workspace_id = sp_current_workspace();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = Int64GetDatum(workspace_id);
	values[1] = CStringGetTextDatum(email ? "email" : "externalId");
	values[2] = CStringGetTextDatum(email ? email : external_id);
	sp_execute(&plan, values, NULL, false, 0);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	sp_push_bool(&state, "unsuppressed", SPI_processed > 0);
	result = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
	result = sp_jsonb_for_caller(result);
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}
