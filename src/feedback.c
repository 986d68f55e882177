/*
 * feedback.c
 *		sp_feedback: store feedback and resolve its person.
 *
 * The person is resolved by the identify rules in the same transaction as
 * the feedback row, so the two commit together or not at all.  Feedback
 * naming neither an externalId nor an email is kept with no person.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "simpleproduct.h"

/*
 * Read an optional string member, refusing an empty one; absent or null
 * gives the default.
 */
static char *
optional_text(Jsonb *input, const char *key, const char *default_value)
{
	bool		present;
	char	   *value = sp_json_string(input, key, &present);

	if (value == NULL)
		return (char *) default_value;
	if (value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" must not be empty", key),
				 errhint("Omit \"%s\" to get the default \"%s\".", key,
						 default_value)));
	return value;
}

/*
 * Whether a string holds nothing but white space.
 */
static bool
is_blank(const char *text)
{
	for (; *text != '\0'; text++)
		if (!isspace((unsigned char) *text))
			return false;
	return true;
}

PG_FUNCTION_INFO_V1(sp_feedback);

/*
 * SQL: simpleproduct.sp_feedback(jsonb).  {title, content, externalId,
 * email, source, metadata}; returns the feedback with its person.
 */
Datum
sp_feedback(PG_FUNCTION_ARGS)
{
	static SpPlan insert_plan = {
		"INSERT INTO simpleproduct.feedback (workspace_id, person_id, title,"
		" content, source, metadata) VALUES ($1, $2, $3, $4, $5, $6)"
		" RETURNING id, created_at, updated_at",
		6, {INT8OID, UUIDOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID}
	};
	Jsonb	   *input = PG_GETARG_JSONB_P(0);
	bool		present;
	char	   *content;
	char	   *title;
	char	   *source;
	Jsonb	   *metadata;
	SpIdentity	identity;
	SpPerson	person;
	bool		has_person;
	bool		created;
	int64		workspace_id;
	Datum		values[6];
	char		nulls[7] = "      ";
	HeapTuple	tuple;
	bool		isnull;
	JsonbParseState *state = NULL;
	Jsonb	   *result;

	sp_require_object(input, "the feedback");
	content = sp_json_string(input, "content", &present);
	if (content == NULL || is_blank(content))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feedback needs a non-empty \"content\""),
				 errhint("Pass {\"content\": \"Love the new feature!\"}.")));
	title = optional_text(input, "title", "Feedback");
	source = optional_text(input, "source", "api");
	metadata = sp_json_object(input, "metadata", &present);

	memset(&identity, 0, sizeof(identity));
	identity.referenced = true;
	identity.external_id = sp_json_external_id(input, &present);
	identity.email = sp_json_string(input, "email", &present);
	if (identity.email != NULL)
		identity.email = sp_normalize_email(identity.email, true, NULL);

	workspace_id = sp_current_workspace();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	has_person = sp_resolve_person(workspace_id, &identity, &person,
								   &created);

	values[0] = Int64GetDatum(workspace_id);
	values[1] = has_person ? UUIDPGetDatum(&person.id) : (Datum) 0;
	nulls[1] = has_person ? ' ' : 'n';
	values[2] = CStringGetTextDatum(title);
	values[3] = CStringGetTextDatum(content);
	values[4] = CStringGetTextDatum(source);
	values[5] = metadata ? JsonbPGetDatum(metadata) : (Datum) 0;
	nulls[5] = metadata ? ' ' : 'n';
	sp_execute(&insert_plan, values, nulls, false, 0);
	tuple = SPI_tuptable->vals[0];

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	sp_push_string(&state, "id",
				   SPI_getvalue(tuple, SPI_tuptable->tupdesc, 1));
	sp_push_string(&state, "title", title);
	sp_push_string(&state, "content", content);
	sp_push_string(&state, "source", source);
	sp_push_jsonb(&state, "metadata", metadata);
	sp_push_timestamp(&state, "createdAt", false,
					  DatumGetTimestampTz(SPI_getbinval(tuple,
														SPI_tuptable->tupdesc,
														2, &isnull)));
	sp_push_timestamp(&state, "updatedAt", false,
					  DatumGetTimestampTz(SPI_getbinval(tuple,
														SPI_tuptable->tupdesc,
														3, &isnull)));
	sp_push_bool(&state, "created", true);
	sp_push_key(&state, "person");
	if (has_person)
	{
		sp_push_person(&state, workspace_id, &person);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	else
	{
		JsonbValue	null_value;

		null_value.type = jbvNull;
		pushJsonbValue(&state, WJB_VALUE, &null_value);
	}
	result = sp_jsonb_for_caller(JsonbValueToJsonb(pushJsonbValue(&state,
																  WJB_END_OBJECT,
																  NULL)));
	SPI_finish();

	PG_RETURN_JSONB_P(result);
}
