/*
 * merge_patch.c
 *		JSON Merge Patch (RFC 7396) on jsonb, for properties.
 *
 * A patch object's keys overwrite the target's, a key set to null removes
 * it, and nested objects merge recursively.  A patch that is not an object
 * replaces the target whole.  PostgreSQL's || operator merges only the top
 * level and keeps nulls, hence this file.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/jsonb.h"

#include "simpleproduct.h"

static JsonbValue *push_merged(JsonbParseState **state,
							   JsonbContainer *target,
							   JsonbContainer *patch);

/*
 * Whether a JsonbValue is an object held in binary form.
 */
static inline bool
is_binary_object(const JsonbValue *value)
{
	return value->type == jbvBinary &&
		JsonContainerIsObject(value->val.binary.data);
}

/*
 * Push the value for one patched key: the patch value itself, or for an
 * object patch the recursive merge (with an absent or non-object target
 * treated as empty, which also strips nulls nested in the patch).
 */
static void
push_patched_value(JsonbParseState **state, JsonbValue *target_value,
				   JsonbValue *patch_value)
{
	if (is_binary_object(patch_value))
	{
		JsonbContainer *target = NULL;

		if (target_value != NULL && is_binary_object(target_value))
			target = target_value->val.binary.data;
		push_merged(state, target, patch_value->val.binary.data);
	}
	else
		pushJsonbValue(state, WJB_VALUE, patch_value);
}

/*
 * Push the object that results from merging patch (an object container)
 * into target (an object container, or NULL for none).  Returns what the
 * closing push returns: the finished value when this is the outermost
 * object.
 */
static JsonbValue *
push_merged(JsonbParseState **state, JsonbContainer *target,
			JsonbContainer *patch)
{
	JsonbIterator *it;
	JsonbIteratorToken token;
	JsonbValue	key;
	JsonbValue	value;

	check_stack_depth();
	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);

	/* The target's keys that the patch does not mention stay as they are. */
	if (target != NULL)
	{
		it = JsonbIteratorInit(target);
		while ((token = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
		{
			if (token != WJB_KEY)
				continue;
			token = JsonbIteratorNext(&it, &value, true);
			if (getKeyJsonValueFromContainer(patch, key.val.string.val,
											 key.val.string.len,
											 NULL) != NULL)
				continue;
			pushJsonbValue(state, WJB_KEY, &key);
			pushJsonbValue(state, WJB_VALUE, &value);
		}
	}

	/* The patch's keys: null removes, anything else is set or merged. */
	it = JsonbIteratorInit(patch);
	while ((token = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		JsonbValue *target_value = NULL;

		if (token != WJB_KEY)
			continue;
		token = JsonbIteratorNext(&it, &value, true);
		if (value.type == jbvNull)
			continue;
		if (target != NULL)
			target_value = getKeyJsonValueFromContainer(target,
														key.val.string.val,
														key.val.string.len,
														NULL);
		pushJsonbValue(state, WJB_KEY, &key);
		push_patched_value(state, target_value, &value);
	}

	return pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

/*
 * Apply patch to target as RFC 7396 says.  target may be NULL (no value).
 */
Jsonb *
sp_merge_patch(Jsonb *target, Jsonb *patch)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;
	JsonbContainer *target_object = NULL;

	if (!JB_ROOT_IS_OBJECT(patch) || JB_ROOT_IS_SCALAR(patch))
		return patch;
	if (target != NULL && JB_ROOT_IS_OBJECT(target) &&
		!JB_ROOT_IS_SCALAR(target))
		target_object = &target->root;

	result = push_merged(&state, target_object, &patch->root);
	return JsonbValueToJsonb(result);
}

/*
 * Add to base every top-level key of filler that base lacks (base's values
 * win).  Used when a merge fills the survivor's empty fields.
 */
Jsonb *
sp_fill_missing(Jsonb *base, Jsonb *filler)
{
	JsonbParseState *state = NULL;
	JsonbIterator *it;
	JsonbIteratorToken token;
	JsonbValue	key;
	JsonbValue	value;
	JsonbValue *result = NULL;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	it = JsonbIteratorInit(&base->root);
	while ((token = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		if (token != WJB_KEY)
			continue;
		JsonbIteratorNext(&it, &value, true);
		pushJsonbValue(&state, WJB_KEY, &key);
		pushJsonbValue(&state, WJB_VALUE, &value);
	}
	it = JsonbIteratorInit(&filler->root);
	while ((token = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		if (token != WJB_KEY)
			continue;
		JsonbIteratorNext(&it, &value, true);
		if (getKeyJsonValueFromContainer(&base->root, key.val.string.val,
										 key.val.string.len, NULL) != NULL)
			continue;
		pushJsonbValue(&state, WJB_KEY, &key);
		pushJsonbValue(&state, WJB_VALUE, &value);
	}
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(result);
}

/*
 * The empty object {}.
 */
Jsonb *
sp_empty_object(void)
{
	JsonbParseState *state = NULL;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

PG_FUNCTION_INFO_V1(sp_merge_patch_sql);

/*
 * SQL: simpleproduct.merge_patch(target jsonb, patch jsonb).  A NULL patch
 * leaves the target as it is.
 */
Datum
sp_merge_patch_sql(PG_FUNCTION_ARGS)
{
	Jsonb	   *target = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);

	if (PG_ARGISNULL(1))
	{
		if (target == NULL)
			PG_RETURN_NULL();
		PG_RETURN_JSONB_P(target);
	}
	PG_RETURN_JSONB_P(sp_merge_patch(target, PG_GETARG_JSONB_P(1)));
}
