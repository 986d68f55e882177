/*
 * person.c
 *		Reading and writing person rows, their JSON form, their history,
 *		and sp_find_person.
 *
 * All access goes through saved SPI plans whose every name is schema-
 * qualified, operators included, so that a hostile search_path cannot
 * change what they mean.  Callers must be connected to SPI.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "simpleproduct.h"

#define PERSON_COLUMNS SP_PERSON_COLUMNS


/*
 * Copy the person in the current SPI result's row "row" into *person.
 */
static void
person_from_row(int row, SpPerson *person)
{
	HeapTuple	tuple = SPI_tuptable->vals[row];
	TupleDesc	desc = SPI_tuptable->tupdesc;
	bool		isnull;
	Datum		value;

	memcpy(&person->id,
		   DatumGetUUIDP(SPI_getbinval(tuple, desc, 1, &isnull)),
		   sizeof(pg_uuid_t));
	person->external_id = SPI_getvalue(tuple, desc, 2);
	person->email = SPI_getvalue(tuple, desc, 3);
	person->name = SPI_getvalue(tuple, desc, 4);
	person->properties = DatumGetJsonbPCopy(SPI_getbinval(tuple, desc, 5,
														  &isnull));
	value = SPI_getbinval(tuple, desc, 6, &isnull);
	person->has_organization = !isnull;
	if (!isnull)
		memcpy(&person->organization_id, DatumGetUUIDP(value),
			   sizeof(pg_uuid_t));
	person->organization_explicit =
		DatumGetBool(SPI_getbinval(tuple, desc, 7, &isnull));
	value = SPI_getbinval(tuple, desc, 8, &isnull);
	person->has_last_seen = !isnull;
	person->last_seen_at = isnull ? 0 : DatumGetTimestampTz(value);
	person->created_at =
		DatumGetTimestampTz(SPI_getbinval(tuple, desc, 9, &isnull));
	person->updated_at =
		DatumGetTimestampTz(SPI_getbinval(tuple, desc, 10, &isnull));
	person->organization_name = SPI_getvalue(tuple, desc, 11);
	person->organization_domain = SPI_getvalue(tuple, desc, 12);
	person->organization_loaded = person->has_organization &&
		person->organization_domain != NULL;
}

/*
 * Read the person in the first row of the current SPI result (a query
 * returning SP_PERSON_COLUMNS).
 */
void
sp_person_from_current_row(SpPerson *person)
{
	person_from_row(0, person);
}

/*
 * Run a one-key lookup plan and read the person it finds, if any.
 */
static bool
person_lookup(SpPlan *plan, int64 workspace_id, Datum key, SpPerson *person)
{
	Datum		values[2];

	values[0] = Int64GetDatum(workspace_id);
	values[1] = key;
	sp_execute(plan, values, NULL, false, 1);
	if (SPI_processed == 0)
		return false;
	person_from_row(0, person);
	return true;
}

/*
 * The person holding an external id; with lock, the row is locked FOR
 * UPDATE so that its values stay ours until commit.
 */
bool
sp_person_by_external_id(int64 workspace_id, const char *id, bool lock,
						 SpPerson *person)
{
	static SpPlan plain = {
		"SELECT " PERSON_COLUMNS " FROM simpleproduct.people"
		" WHERE workspace_id" EQ "$1 AND external_id" EQ "$2",
		2, {INT8OID, TEXTOID}
	};
	static SpPlan locking = {
		"SELECT " PERSON_COLUMNS " FROM simpleproduct.people"
		" WHERE workspace_id" EQ "$1 AND external_id" EQ "$2 FOR UPDATE",
		2, {INT8OID, TEXTOID}
	};

	return person_lookup(lock ? &locking : &plain, workspace_id,
						 CStringGetTextDatum(id), person);
}

/*
 * The person holding a (normalised) email address; lock as above.
 */
bool
sp_person_by_email(int64 workspace_id, const char *email, bool lock,
				   SpPerson *person)
{
	static SpPlan plain = {
		"SELECT " PERSON_COLUMNS " FROM simpleproduct.people"
		" WHERE workspace_id" EQ "$1 AND email" EQ "$2",
		2, {INT8OID, TEXTOID}
	};
	static SpPlan locking = {
		"SELECT " PERSON_COLUMNS " FROM simpleproduct.people"
		" WHERE workspace_id" EQ "$1 AND email" EQ "$2 FOR UPDATE",
		2, {INT8OID, TEXTOID}
	};

	return person_lookup(lock ? &locking : &plain, workspace_id,
						 CStringGetTextDatum(email), person);
}

/*
 * The person with an id.  With follow_alias, the id of a person merged
 * into another finds the survivor.
 */
bool
sp_person_by_id(int64 workspace_id, const pg_uuid_t *id, bool follow_alias,
				bool lock, SpPerson *person)
{
	static SpPlan plain = {
		"SELECT " PERSON_COLUMNS " FROM simpleproduct.people"
		" WHERE workspace_id" EQ "$1 AND id" EQ "$2",
		2, {INT8OID, UUIDOID}
	};
	static SpPlan locking = {
		"SELECT " PERSON_COLUMNS " FROM simpleproduct.people"
		" WHERE workspace_id" EQ "$1 AND id" EQ "$2 FOR UPDATE",
		2, {INT8OID, UUIDOID}
	};
	static SpPlan alias = {
		"SELECT person_id FROM simpleproduct.person_aliases"
		" WHERE workspace_id" EQ "$1 AND alias_id" EQ "$2",
		2, {INT8OID, UUIDOID}
	};
	Datum		values[2];
	bool		isnull;
	pg_uuid_t	survivor;

	if (person_lookup(lock ? &locking : &plain, workspace_id,
					  UUIDPGetDatum(id), person))
		return true;
	if (!follow_alias)
		return false;

	values[0] = Int64GetDatum(workspace_id);
	values[1] = UUIDPGetDatum(id);
	sp_execute(&alias, values, NULL, !lock, 1);
	if (SPI_processed == 0)
		return false;
	memcpy(&survivor,
		   DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull)),
		   sizeof(pg_uuid_t));
	return person_lookup(lock ? &locking : &plain, workspace_id,
						 UUIDPGetDatum(&survivor), person);
}

/*
 * Fill the parameter arrays shared by insert and update from *values.
 */
static void
person_parameters(const SpPerson *values, Datum *datums, char *nulls)
{
	datums[0] = values->external_id ?
		CStringGetTextDatum(values->external_id) : (Datum) 0;
	nulls[0] = values->external_id ? ' ' : 'n';
	datums[1] = values->email ? CStringGetTextDatum(values->email) : 0;
	nulls[1] = values->email ? ' ' : 'n';
	datums[2] = values->name ? CStringGetTextDatum(values->name) : 0;
	nulls[2] = values->name ? ' ' : 'n';
	datums[3] = JsonbPGetDatum(values->properties);
	nulls[3] = ' ';
	datums[4] = values->has_organization ?
		UUIDPGetDatum(&values->organization_id) : (Datum) 0;
	nulls[4] = values->has_organization ? ' ' : 'n';
	datums[5] = BoolGetDatum(values->organization_explicit);
	nulls[5] = ' ';
	datums[6] = TimestampTzGetDatum(values->last_seen_at);
	nulls[6] = values->has_last_seen ? ' ' : 'n';
}

/*
 * Insert a person with the values in *values (its id is ignored) and read
 * the row back, as the triggers left it, into *result.
 */
void
sp_person_insert(int64 workspace_id, const SpPerson *values,
				 SpPerson *result)
{
	static SpPlan plan = {
		"INSERT INTO simpleproduct.people (workspace_id, external_id, email,"
		" name, properties, organization_id, organization_explicit,"
		" last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
		" RETURNING " PERSON_COLUMNS,
		8, {INT8OID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, UUIDOID, BOOLOID,
		TIMESTAMPTZOID}
	};
	Datum		datums[8];
	char		nulls[9];

	datums[0] = Int64GetDatum(workspace_id);
	nulls[0] = ' ';
	person_parameters(values, datums + 1, nulls + 1);
	nulls[8] = '\0';
	sp_execute(&plan, datums, nulls, false, 0);
	person_from_row(0, result);
}

/*
 * Write *values over the person with values->id and read the row back.
 * updated_at is written as values->updated_at: pass the row's current value
 * to let the trigger move it when the data changes, another to set it.
 */
void
sp_person_update(int64 workspace_id, const SpPerson *values,
				 SpPerson *result)
{
	static SpPlan plan = {
		"UPDATE simpleproduct.people SET external_id = $3, email = $4,"
		" name = $5, properties = $6, organization_id = $7,"
		" organization_explicit = $8, last_seen_at = $9, updated_at = $10"
		" WHERE workspace_id" EQ "$1 AND id" EQ "$2"
		" RETURNING " PERSON_COLUMNS,
		10, {INT8OID, UUIDOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, UUIDOID,
		BOOLOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
	};
	Datum		datums[10];
	char		nulls[11];

	datums[0] = Int64GetDatum(workspace_id);
	datums[1] = UUIDPGetDatum(&values->id);
	nulls[0] = nulls[1] = ' ';
	person_parameters(values, datums + 2, nulls + 2);
	datums[9] = TimestampTzGetDatum(values->updated_at);
	nulls[9] = ' ';
	nulls[10] = '\0';
	sp_execute(&plan, datums, nulls, false, 0);
	if (SPI_processed != 1)
		elog(ERROR, "person to update has disappeared");
	person_from_row(0, result);
}

/*
 * Insert a person again exactly as a snapshot holds it, id and timestamps
 * included (an unmerge).  The link is kept only when it was explicit; an
 * automatic one is recomputed by the trigger.
 */
void
sp_person_restore(int64 workspace_id, const SpPerson *values,
				  SpPerson *result)
{
	static SpPlan plan = {
		"INSERT INTO simpleproduct.people (workspace_id, external_id, email,"
		" name, properties, organization_id, organization_explicit,"
		" last_seen_at, id, created_at, updated_at)"
		" VALUES ($1, $2, $3, $4, $5,"
		" (SELECT o.id FROM simpleproduct.organizations o"
		"  WHERE o.workspace_id" EQ "$1 AND o.id" EQ "$6), $7,"
		" $8, $9, $10, $11) RETURNING " PERSON_COLUMNS,
		11, {INT8OID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, UUIDOID, BOOLOID,
		TIMESTAMPTZOID, UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
	};
	SpPerson	restored = *values;
	Datum		datums[11];
	char		nulls[12];

	if (!restored.organization_explicit)
		restored.has_organization = false;
	datums[0] = Int64GetDatum(workspace_id);
	nulls[0] = ' ';
	person_parameters(&restored, datums + 1, nulls + 1);
	datums[8] = UUIDPGetDatum(&values->id);
	datums[9] = TimestampTzGetDatum(values->created_at);
	datums[10] = TimestampTzGetDatum(values->updated_at);
	nulls[8] = nulls[9] = nulls[10] = ' ';
	nulls[11] = '\0';
	sp_execute(&plan, datums, nulls, false, 0);
	person_from_row(0, result);
}

/*
 * Read a person back from a snapshot made by sp_person_identifiers(..,
 * true), as the history keeps it.
 */
void
sp_person_from_snapshot(Jsonb *snapshot, SpPerson *person)
{
	bool		present;
	char	   *text;
	Jsonb	   *properties;
	JsonbValue *flag;

	memset(person, 0, sizeof(SpPerson));
	text = sp_json_string(snapshot, "id", &present);
	if (text == NULL || !sp_parse_uuid(text, &person->id))
		elog(ERROR, "person snapshot without an id");
	person->external_id = sp_json_string(snapshot, "externalId", &present);
	person->email = sp_json_string(snapshot, "email", &present);
	person->name = sp_json_string(snapshot, "name", &present);
	properties = sp_json_object(snapshot, "properties", &present);
	person->properties = properties ? properties : sp_empty_object();
	text = sp_json_string(snapshot, "organizationId", &present);
	person->has_organization = text != NULL &&
		sp_parse_uuid(text, &person->organization_id);
	flag = sp_json_get(snapshot, "organizationExplicit");
	person->organization_explicit = flag != NULL &&
		flag->type == jbvBool && flag->val.boolean;
	text = sp_json_string(snapshot, "lastSeenAt", &present);
	person->has_last_seen = text != NULL;
	if (text != NULL)
		person->last_seen_at = sp_parse_timestamp(text);
	person->created_at = sp_parse_timestamp(sp_json_string(snapshot,
															"createdAt",
															&present));
	person->updated_at = sp_parse_timestamp(sp_json_string(snapshot,
															"updatedAt",
															&present));
}

/*
 * Whether two people hold the same values: identifiers, name, properties
 * and link (not the timestamps).
 */
bool
sp_person_same_values(const SpPerson *a, const SpPerson *b)
{
	return !sp_strings_differ(a->external_id, b->external_id) &&
		!sp_strings_differ(a->email, b->email) &&
		!sp_strings_differ(a->name, b->name) &&
		a->has_organization == b->has_organization &&
		(!a->has_organization ||
		 memcmp(&a->organization_id, &b->organization_id,
				sizeof(pg_uuid_t)) == 0) &&
		a->organization_explicit == b->organization_explicit &&
		!sp_jsonb_differ(a->properties, b->properties);
}

/*
 * Delete a person row.
 */
void
sp_person_delete(int64 workspace_id, const pg_uuid_t *id)
{
	static SpPlan plan = {
		"DELETE FROM simpleproduct.people"
		" WHERE workspace_id" EQ "$1 AND id" EQ "$2",
		2, {INT8OID, UUIDOID}
	};
	Datum		values[2];

	values[0] = Int64GetDatum(workspace_id);
	values[1] = UUIDPGetDatum(id);
	sp_execute(&plan, values, NULL, false, 0);
}

/*
 * A person's identifiers as a JSON object, for the history; with whole,
 * every field, so that the person could be rebuilt from it.
 */
Jsonb *
sp_person_identifiers(const SpPerson *person, bool whole)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	sp_push_uuid(&state, "id", &person->id);
	sp_push_string(&state, "externalId", person->external_id);
	sp_push_string(&state, "email", person->email);
	if (whole)
	{
		sp_push_string(&state, "name", person->name);
		sp_push_jsonb(&state, "properties", person->properties);
		if (person->has_organization)
			sp_push_uuid(&state, "organizationId",
						 &person->organization_id);
		else
			sp_push_string(&state, "organizationId", NULL);
		sp_push_bool(&state, "organizationExplicit",
					 person->organization_explicit);
		sp_push_timestamp(&state, "lastSeenAt", !person->has_last_seen,
						  person->last_seen_at);
		sp_push_timestamp(&state, "createdAt", false, person->created_at);
		sp_push_timestamp(&state, "updatedAt", false, person->updated_at);
	}
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(result);
}

/* Set whenever an identity change is recorded (see sp_resolve_person). */
bool		sp_identity_changed = false;

/*
 * Append one identity change to the history.
 */
void
sp_history_append(int64 workspace_id, const pg_uuid_t *person,
				  const char *event, const pg_uuid_t *other,
				  Jsonb *before, Jsonb *after)
{
	static SpPlan plan = {
		"INSERT INTO simpleproduct.identity_history (workspace_id,"
		" person_id, event, other_person_id, before, after)"
		" VALUES ($1, $2, $3, $4, $5, $6)",
		6, {INT8OID, UUIDOID, TEXTOID, UUIDOID, JSONBOID, JSONBOID}
	};
	Datum		values[6];
	char		nulls[7] = "      ";

	values[0] = Int64GetDatum(workspace_id);
	values[1] = UUIDPGetDatum(person);
	values[2] = CStringGetTextDatum(event);
	values[3] = other ? UUIDPGetDatum(other) : (Datum) 0;
	nulls[3] = other ? ' ' : 'n';
	values[4] = before ? JsonbPGetDatum(before) : (Datum) 0;
	nulls[4] = before ? ' ' : 'n';
	values[5] = after ? JsonbPGetDatum(after) : (Datum) 0;
	nulls[5] = after ? ' ' : 'n';
	sp_execute(&plan, values, nulls, false, 0);
	sp_identity_changed = true;
}

/*
 * Push the public JSON form of a person: the members SPEC.md lists.
 */
void
sp_push_person(JsonbParseState **state, int64 workspace_id,
			   const SpPerson *person)
{
	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	sp_push_uuid(state, "id", &person->id);
	sp_push_string(state, "externalId", person->external_id);
	sp_push_string(state, "email", person->email);
	sp_push_string(state, "name", person->name);
	sp_push_jsonb(state, "properties", person->properties);
	sp_push_key(state, "organization");
	if (person->organization_loaded)
	{
		pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
		sp_push_uuid(state, "id", &person->organization_id);
		sp_push_string(state, "name", person->organization_name);
		sp_push_string(state, "domain", person->organization_domain);
		pushJsonbValue(state, WJB_END_OBJECT, NULL);
	}
	else
		sp_push_organization_brief(state, workspace_id,
								   person->has_organization ?
								   &person->organization_id : NULL);
	sp_push_timestamp(state, "lastSeenAt", !person->has_last_seen,
					  person->last_seen_at);
	sp_push_timestamp(state, "createdAt", false, person->created_at);
	sp_push_timestamp(state, "updatedAt", false, person->updated_at);
}

/*
 * A person as the jsonb the functions return; created is 1 or 0 for the
 * "created" member of upserts, or -1 to leave it out.
 */
Jsonb *
sp_person_to_jsonb(int64 workspace_id, const SpPerson *person, int created)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;

	sp_push_person(&state, workspace_id, person);
	if (created >= 0)
		sp_push_bool(&state, "created", created == 1);
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(result);
}

PG_FUNCTION_INFO_V1(sp_find_person);

/*
 * SQL: simpleproduct.sp_find_person(jsonb).  Exactly one of "id", "email"
 * or "externalId"; returns the person or NULL.  A merged person's id finds
 * its survivor.
 */
Datum
sp_find_person(PG_FUNCTION_ARGS)
{
	Jsonb	   *lookup = PG_GETARG_JSONB_P(0);
	int64		workspace_id;
	bool		has_id,
				has_email,
				has_external_id;
	char	   *id;
	char	   *email;
	char	   *external_id;
	SpPerson	person;
	bool		found = false;
	Jsonb	   *result = NULL;

	sp_require_object(lookup, "the lookup");
	id = sp_json_string(lookup, "id", &has_id);
	email = sp_json_string(lookup, "email", &has_email);
	external_id = sp_json_external_id(lookup, &has_external_id);
	if ((int) has_id + (int) has_email + (int) has_external_id != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a person lookup takes exactly one of \"id\", \"email\" or \"externalId\"")));
	if (has_email && email != NULL)
		email = sp_normalize_email(email, true, NULL);

	workspace_id = sp_current_workspace();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (id != NULL)
	{
		pg_uuid_t	uuid;

		if (sp_parse_uuid(id, &uuid))
			found = sp_person_by_id(workspace_id, &uuid, true, false,
									&person);
	}
	else if (email != NULL)
		found = sp_person_by_email(workspace_id, email, false, &person);
	else if (external_id != NULL)
		found = sp_person_by_external_id(workspace_id, external_id, false,
										 &person);

	if (found)
		result = sp_jsonb_for_caller(sp_person_to_jsonb(workspace_id,
														 &person, -1));
	SPI_finish();

	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(result);
}
