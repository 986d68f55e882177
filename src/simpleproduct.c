/*
 * simpleproduct.c
 *		Module entry point, and the SPI and JSON helpers every part uses.
 *
 * The SQL functions of the extension take and return jsonb.  The helpers
 * here read typed members out of a caller's object (refusing wrong types
 * with SQLSTATE 42804, which the REST layer turns into 400) and build the
 * objects we return.  Saved SPI plans are prepared on first use and kept
 * for the life of the backend.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/numeric.h"

#include "simpleproduct.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * Module load: define the custom settings and register cache callbacks.
 */
void
_PG_init(void)
{
	sp_workspace_init();
}

/*
 * Run a saved plan, preparing and keeping it on first use.  Errors from
 * SPI itself cannot be caused by the caller, so they are internal errors.
 */
int
sp_execute(SpPlan *plan, Datum *values, const char *nulls, bool read_only,
		   long count)
{
	int			rc;

	if (plan->plan == NULL)
	{
		SPIPlanPtr	prepared;

		prepared = SPI_prepare(plan->sql, plan->nargs, plan->argtypes);
		if (prepared == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 plan->sql, SPI_result_code_string(SPI_result));
		SPI_keepplan(prepared);
		plan->plan = prepared;
	}

	rc = SPI_execute_plan(plan->plan, values, nulls, read_only, count);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed for \"%s\": %s",
			 plan->sql, SPI_result_code_string(rc));
	return rc;
}

/*
 * Copy a jsonb built inside SPI into the caller's memory, so that it
 * survives SPI_finish().
 */
Jsonb *
sp_jsonb_for_caller(Jsonb *value)
{
	Jsonb	   *copy = SPI_palloc(VARSIZE(value));

	memcpy(copy, value, VARSIZE(value));
	return copy;
}

/*
 * Whether two C strings, either possibly NULL, differ.
 */
bool
sp_strings_differ(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/*
 * Whether two jsonb values differ.
 */
bool
sp_jsonb_differ(Jsonb *a, Jsonb *b)
{
	return !DatumGetBool(DirectFunctionCall2(jsonb_eq, JsonbPGetDatum(a),
											 JsonbPGetDatum(b)));
}

/*
 * A timestamptz from its text form (as the history stores it); NULL text
 * is a corrupt snapshot.
 */
TimestampTz
sp_parse_timestamp(const char *text)
{
	if (text == NULL)
		elog(ERROR, "snapshot without a timestamp");
	return DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
												   CStringGetDatum(text),
												   ObjectIdGetDatum(InvalidOid),
												   Int32GetDatum(-1)));
}

/*
 * A uuid as text, palloc'd.
 */
char *
sp_uuid_text(const pg_uuid_t *uuid)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out,
											   UUIDPGetDatum(uuid)));
}

/*
 * Refuse anything but a JSON object as a function's argument.
 */
void
sp_require_object(Jsonb *input, const char *what)
{
	if (!JB_ROOT_IS_OBJECT(input) || JB_ROOT_IS_SCALAR(input))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be a JSON object", what),
				 errdetail("Pass an object such as {\"email\": \"ann@acme.com\"}.")));
}

/*
 * The member "key" of a JSON object, or NULL when it is absent.
 */
JsonbValue *
sp_json_get(Jsonb *object, const char *key)
{
	return getKeyJsonValueFromContainer(&object->root, key, strlen(key),
										NULL);
}

/*
 * A string member as a palloc'd C string.  *present tells whether the key
 * was there at all; JSON null gives NULL with *present true.  Any other
 * type is refused.
 */
char *
sp_json_string(Jsonb *object, const char *key, bool *present)
{
	JsonbValue *value = sp_json_get(object, key);

	*present = (value != NULL);
	if (value == NULL || value->type == jbvNull)
		return NULL;
	if (value->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("\"%s\" must be a string", key)));
	return pnstrdup(value->val.string.val, value->val.string.len);
}

/*
 * An object member as its own Jsonb.  *present as for sp_json_string; JSON
 * null gives NULL.  Any other type is refused.
 */
Jsonb *
sp_json_object(Jsonb *object, const char *key, bool *present)
{
	JsonbValue *value = sp_json_get(object, key);

	*present = (value != NULL);
	if (value == NULL || value->type == jbvNull)
		return NULL;
	if (value->type != jbvBinary ||
		!JsonContainerIsObject(value->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("\"%s\" must be a JSON object", key)));
	return JsonbValueToJsonb(value);
}

/*
 * Parse a uuid given as text without raising: false when it is not one.
 */
bool
sp_parse_uuid(const char *text, pg_uuid_t *uuid)
{
	int			nibbles = 0;
	const char *p;

	for (p = text; *p != '\0'; p++)
	{
		int			digit;

		if (*p == '-' && (nibbles == 8 || nibbles == 12 || nibbles == 16 ||
						  nibbles == 20))
			continue;
		if (*p >= '0' && *p <= '9')
			digit = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			digit = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			digit = *p - 'A' + 10;
		else
			return false;
		if (nibbles >= 2 * UUID_LEN)
			return false;
		if (nibbles % 2 == 0)
			uuid->data[nibbles / 2] = digit << 4;
		else
			uuid->data[nibbles / 2] |= digit;
		nibbles++;
	}
	return nibbles == 2 * UUID_LEN;
}

/* Push an object key. */
void
sp_push_key(JsonbParseState **state, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &k);
}

/* Push "key": "value", or "key": null when value is NULL. */
void
sp_push_string(JsonbParseState **state, const char *key, const char *value)
{
	JsonbValue	v;

	sp_push_key(state, key);
	if (value == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) value;
		v.val.string.len = strlen(value);
	}
	pushJsonbValue(state, WJB_VALUE, &v);
}

/* Push "key": true|false. */
void
sp_push_bool(JsonbParseState **state, const char *key, bool value)
{
	JsonbValue	v;

	sp_push_key(state, key);
	v.type = jbvBool;
	v.val.boolean = value;
	pushJsonbValue(state, WJB_VALUE, &v);
}

/* Push "key": <integer>. */
void
sp_push_int64(JsonbParseState **state, const char *key, int64 value)
{
	JsonbValue	v;

	sp_push_key(state, key);
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric,
														Int64GetDatum(value)));
	pushJsonbValue(state, WJB_VALUE, &v);
}

/* Push "key": "<uuid>". */
void
sp_push_uuid(JsonbParseState **state, const char *key, const pg_uuid_t *value)
{
	sp_push_string(state, key, sp_uuid_text(value));
}

/* Push "key": "<ISO 8601 timestamp>", or null. */
void
sp_push_timestamp(JsonbParseState **state, const char *key, bool isnull,
				  TimestampTz value)
{
	char	   *text = NULL;

	if (!isnull)
#if PG_VERSION_NUM >= 130000
		text = JsonEncodeDateTime(NULL, TimestampTzGetDatum(value),
								  TIMESTAMPTZOID, NULL);
#else
		text = JsonEncodeDateTime(NULL, TimestampTzGetDatum(value),
								  TIMESTAMPTZOID);
#endif
	sp_push_string(state, key, text);
}

/* Push "key": <jsonb value>, or null when value is NULL. */
void
sp_push_jsonb(JsonbParseState **state, const char *key, Jsonb *value)
{
	JsonbValue	v;

	sp_push_key(state, key);
	if (value == NULL)
	{
		v.type = jbvNull;
		pushJsonbValue(state, WJB_VALUE, &v);
		return;
	}
	v.type = jbvBinary;
	v.val.binary.data = &value->root;
	v.val.binary.len = VARSIZE(value) - VARHDRSZ;
	pushJsonbValue(state, WJB_VALUE, &v);
}
