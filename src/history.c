/*
 * history.c
 *		Reading a person's identity history, and undoing a merge.
 *
 * A merge records both people whole, with the feedback and aliases that
 * moved, so sp_unmerge can bring the merged person back exactly: own id,
 * identifiers, name, properties, link, timestamps and feedback.  The
 * survivor gets back what the merge changed; a field changed again since
 * the merge keeps its newer value.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "simpleproduct.h"


PG_FUNCTION_INFO_V1(sp_person_history);

/*
 * SQL: simpleproduct.sp_person_history(jsonb).  {"id"}: the history rows
 * about that person (as the changed person or as the other one), oldest
 * first, as an array; NULL when the id is unknown.
 */
Datum
sp_person_history(PG_FUNCTION_ARGS)
{
	static SpPlan plan = {
		"SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
		"  'id', h.id, 'event', h.event, 'personId', h.person_id,"
		"  'otherPersonId', h.other_person_id, 'before', h.before,"
		"  'after', h.after, 'createdAt', h.created_at) ORDER BY h.id)"
		" FROM simpleproduct.identity_history h"
		" WHERE h.workspace_id" EQ "$1"
		" AND (h.person_id" EQ "$2 OR h.other_person_id" EQ "$2)",
		2, {INT8OID, UUIDOID}
	};
	Jsonb	   *lookup = PG_GETARG_JSONB_P(0);
	bool		present;
	char	   *id_text;
	pg_uuid_t	id;
	int64		workspace_id;
	Datum		values[2];
	bool		isnull;
	Datum		history;
	Jsonb	   *result = NULL;

	sp_require_object(lookup, "the lookup");
	id_text = sp_json_string(lookup, "id", &present);
	if (id_text == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a history lookup needs the person's \"id\"")));
	if (!sp_parse_uuid(id_text, &id))
		PG_RETURN_NULL();

	workspace_id = sp_current_workspace();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = Int64GetDatum(workspace_id);
	values[1] = UUIDPGetDatum(&id);
	sp_execute(&plan, values, NULL, true, 1);
	history = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
							&isnull);
	if (!isnull)
		result = sp_jsonb_for_caller(DatumGetJsonbP(history));
	SPI_finish();

	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(result);
}

/*
 * The uuids of a JSON array of strings, as a uuid[] datum.
 */
static Datum
uuid_array(Jsonb *container, const char *key)
{
	JsonbValue *value = sp_json_get(container, key);
	JsonbIterator *it;
	JsonbIteratorToken token;
	JsonbValue	element;
	Datum	   *uuids;
	int			count = 0;

	if (value == NULL || value->type != jbvBinary)
		return PointerGetDatum(construct_empty_array(UUIDOID));
	uuids = palloc(sizeof(Datum) *
				   (JsonContainerSize(value->val.binary.data) + 1));
	it = JsonbIteratorInit(value->val.binary.data);
	while ((token = JsonbIteratorNext(&it, &element, true)) != WJB_DONE)
	{
		pg_uuid_t  *uuid = palloc(sizeof(pg_uuid_t));

		if (token != WJB_ELEM || element.type != jbvString)
			continue;
		if (sp_parse_uuid(pnstrdup(element.val.string.val,
								   element.val.string.len), uuid))
			uuids[count++] = UUIDPGetDatum(uuid);
	}
	return PointerGetDatum(construct_array(uuids, count, UUIDOID, UUID_LEN,
										   false, TYPALIGN_CHAR));
}

/*
 * Refuse the unmerge when an identifier of the merged person is now held
 * by somebody else than the survivor.
 */
static void
check_identifier_free(int64 workspace_id, const SpPerson *merged,
					  const SpPerson *survivor)
{
	SpPerson	holder;
	bool		taken = false;

	if (merged->external_id != NULL &&
		sp_person_by_external_id(workspace_id, merged->external_id, false,
								 &holder))
		taken = true;
	else if (merged->email != NULL &&
			 sp_person_by_email(workspace_id, merged->email, false,
								&holder) &&
			 memcmp(&holder.id, &survivor->id, sizeof(pg_uuid_t)) != 0)
		taken = true;
	if (taken)
		ereport(ERROR,
				(errcode(ERRCODE_SP_IDENTITY_CONFLICT),
				 errmsg("cannot unmerge person %s: its identifiers now belong to person %s",
						sp_uuid_text(&merged->id), sp_uuid_text(&holder.id)),
				 errhint("Give that person other identifiers first.")));
}

/*
 * Give the survivor back its link from before the merge.  An explicit link
 * is written as it was; an automatic one is left to the trigger, which
 * recomputes it from the email (clearing any explicit link the merge took
 * over from the merged person).
 */
static void
restore_link(const SpPerson *current, const SpPerson *before, SpPerson *next)
{
	if (before->organization_explicit)
	{
		next->has_organization = before->has_organization;
		next->organization_id = before->organization_id;
		next->organization_explicit = true;
		return;
	}
	next->organization_explicit = false;
	next->has_organization = current->has_organization &&
		!current->organization_explicit;
	next->organization_id = current->organization_id;
}

/*
 * The survivor's values with the merge taken back: whole when nothing has
 * changed since the merge, else field by field where the field still holds
 * what the merge wrote.  The merged email always leaves the survivor.
 */
static void
survivor_without_merge(int64 workspace_id, const SpPerson *current,
					   const SpPerson *before, const SpPerson *after,
					   const SpPerson *merged, SpPerson *next)
{
	SpPerson	holder;
	bool		same_person = memcmp(&current->id, &before->id,
									 sizeof(pg_uuid_t)) == 0;

	*next = *current;
	if (same_person && sp_person_same_values(current, after))
	{
		*next = *before;
		restore_link(current, before, next);
		return;
	}

	if (!sp_strings_differ(current->email, merged->email))
	{
		next->email = NULL;
		if (same_person && before->email != NULL &&
			!sp_person_by_email(workspace_id, before->email, false, &holder))
			next->email = before->email;
	}
	if (!same_person)
		return;
	if (!sp_strings_differ(current->name, after->name))
		next->name = before->name;
	if (!sp_jsonb_differ(current->properties, after->properties))
		next->properties = before->properties;
	if (current->organization_explicit == after->organization_explicit &&
		current->has_organization == after->has_organization &&
		(!current->has_organization ||
		 memcmp(&current->organization_id, &after->organization_id,
				sizeof(pg_uuid_t)) == 0))
		restore_link(current, before, next);
}

PG_FUNCTION_INFO_V1(sp_unmerge);

/*
 * SQL: simpleproduct.sp_unmerge(jsonb).  {"id": <merged person's id>}:
 * reverses that person's latest merge.  Returns {"person": survivor,
 * "restored": merged person}.
 */
Datum
sp_unmerge(PG_FUNCTION_ARGS)
{
	static SpPlan alias_plan = {
		"SELECT person_id FROM simpleproduct.person_aliases"
		" WHERE workspace_id" EQ "$1 AND alias_id" EQ "$2",
		2, {INT8OID, UUIDOID}
	};
	static SpPlan merge_plan = {
		"SELECT before, after FROM simpleproduct.identity_history"
		" WHERE workspace_id" EQ "$1 AND other_person_id" EQ "$2"
		" AND event" EQ "'merge' ORDER BY id DESC LIMIT 1",
		2, {INT8OID, UUIDOID}
	};
	static SpPlan feedback_plan = {
		"UPDATE simpleproduct.feedback SET person_id = $2"
		" WHERE workspace_id" EQ "$1 AND person_id" EQ "$3"
		" AND id" EQ "ANY ($4)",
		4, {INT8OID, UUIDOID, UUIDOID, UUIDARRAYOID}
	};
	static SpPlan aliases_plan = {
		"UPDATE simpleproduct.person_aliases SET person_id = $2"
		" WHERE workspace_id" EQ "$1 AND person_id" EQ "$3"
		" AND alias_id" EQ "ANY ($4)",
		4, {INT8OID, UUIDOID, UUIDOID, UUIDARRAYOID}
	};
	static SpPlan drop_alias_plan = {
		"DELETE FROM simpleproduct.person_aliases"
		" WHERE workspace_id" EQ "$1 AND alias_id" EQ "$2",
		2, {INT8OID, UUIDOID}
	};
	Jsonb	   *input = PG_GETARG_JSONB_P(0);
	bool		present;
	bool		isnull;
	char	   *id_text;
	pg_uuid_t	merged_id;
	pg_uuid_t	survivor_id;
	int64		workspace_id;
	Datum		values[4];
	Jsonb	   *before;
	Jsonb	   *after;
	SpPerson	survivor_before;
	SpPerson	survivor_after;
	SpPerson	merged;
	SpPerson	current;
	SpPerson	next;
	SpPerson	survivor;
	SpPerson	restored;
	JsonbParseState *state = NULL;
	Jsonb	   *result;

	sp_require_object(input, "the unmerge request");
	id_text = sp_json_string(input, "id", &present);
	if (id_text == NULL || !sp_parse_uuid(id_text, &merged_id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unmerging needs the merged person's \"id\"")));

	workspace_id = sp_current_workspace();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* The merged id must still be an alias, with its merge recorded. */
	values[0] = Int64GetDatum(workspace_id);
	values[1] = UUIDPGetDatum(&merged_id);
	sp_execute(&alias_plan, values, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("person %s is not merged into anybody", id_text)));
	memcpy(&survivor_id,
		   DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull)),
		   sizeof(pg_uuid_t));
	sp_execute(&merge_plan, values, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no merge of person %s is recorded", id_text)));
	before = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1,
											  &isnull));
	after = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 2,
											 &isnull));
	sp_person_from_snapshot(sp_json_object(before, "person", &present),
							&survivor_before);
	sp_person_from_snapshot(sp_json_object(before, "merged", &present),
							&merged);
	sp_person_from_snapshot(after, &survivor_after);

	/* Lock as identify does: identifiers first, then the survivor's row. */
	sp_lock_person_identifiers(workspace_id, merged.external_id,
							   merged.email);
	if (!sp_person_by_id(workspace_id, &survivor_id, false, true, &current))
		elog(ERROR, "survivor of a merge has disappeared");
	check_identifier_free(workspace_id, &merged, &current);

	/* The survivor first, so that the merged email is free again. */
	survivor_without_merge(workspace_id, &current, &survivor_before,
						   &survivor_after, &merged, &next);
	next.id = current.id;
	sp_person_update(workspace_id, &next, &survivor);
	sp_person_restore(workspace_id, &merged, &restored);

	values[1] = UUIDPGetDatum(&merged_id);
	values[2] = UUIDPGetDatum(&survivor_id);
	values[3] = uuid_array(before, "feedback");
	sp_execute(&feedback_plan, values, NULL, false, 0);
	values[3] = uuid_array(before, "aliases");
	sp_execute(&aliases_plan, values, NULL, false, 0);
	sp_execute(&drop_alias_plan, values, NULL, false, 0);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	sp_push_jsonb(&state, "person", sp_person_identifiers(&current, true));
	sp_push_jsonb(&state, "merged", NULL);
	before = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
	state = NULL;
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	sp_push_jsonb(&state, "person", sp_person_identifiers(&survivor, true));
	sp_push_jsonb(&state, "restored", sp_person_identifiers(&restored, true));
	after = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
	sp_history_append(workspace_id, &survivor.id, "unmerge", &merged_id,
					  before, after);

	state = NULL;
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	sp_push_key(&state, "person");
	sp_push_person(&state, workspace_id, &survivor);
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	sp_push_key(&state, "restored");
	sp_push_person(&state, workspace_id, &restored);
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	result = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
	result = sp_jsonb_for_caller(result);
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}
