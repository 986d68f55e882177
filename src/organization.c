/*
 * organization.c
 *		Organization rows, sp_upsert_org and sp_find_org.
 *
 * An organization is identified in its workspace by its normalised domain.
 * Linking people to it is the triggers' work (linking.c), so that it holds
 * however the row arrives; this file only writes the row.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "simpleproduct.h"

#define ORGANIZATION_COLUMNS \
	"id, domain, name, properties, created_at, updated_at"


/* An organization row as the functions read it. */
typedef struct SpOrganization
{
	pg_uuid_t	id;
	char	   *domain;
	char	   *name;
	Jsonb	   *properties;
	TimestampTz created_at;
	TimestampTz updated_at;
} SpOrganization;

/*
 * Copy the organization in row "row" of the current SPI result.
 */
static void
organization_from_row(int row, SpOrganization *organization)
{
	HeapTuple	tuple = SPI_tuptable->vals[row];
	TupleDesc	desc = SPI_tuptable->tupdesc;
	bool		isnull;

	memcpy(&organization->id,
		   DatumGetUUIDP(SPI_getbinval(tuple, desc, 1, &isnull)),
		   sizeof(pg_uuid_t));
	organization->domain = SPI_getvalue(tuple, desc, 2);
	organization->name = SPI_getvalue(tuple, desc, 3);
	organization->properties =
		DatumGetJsonbPCopy(SPI_getbinval(tuple, desc, 4, &isnull));
	organization->created_at =
		DatumGetTimestampTz(SPI_getbinval(tuple, desc, 5, &isnull));
	organization->updated_at =
		DatumGetTimestampTz(SPI_getbinval(tuple, desc, 6, &isnull));
}

/*
 * The organization with an id, locked when lock is true: FOR NO KEY
 * UPDATE, which lets people keep referencing it meanwhile.
 */
static bool
organization_by_id(int64 workspace_id, const pg_uuid_t *id, bool lock,
				   SpOrganization *organization)
{
	static SpPlan plain = {
		"SELECT " ORGANIZATION_COLUMNS " FROM simpleproduct.organizations"
		" WHERE workspace_id" EQ "$1 AND id" EQ "$2",
		2, {INT8OID, UUIDOID}
	};
	static SpPlan locking = {
		"SELECT " ORGANIZATION_COLUMNS " FROM simpleproduct.organizations"
		" WHERE workspace_id" EQ "$1 AND id" EQ "$2 FOR NO KEY UPDATE",
		2, {INT8OID, UUIDOID}
	};
	Datum		values[2];

	values[0] = Int64GetDatum(workspace_id);
	values[1] = UUIDPGetDatum(id);
	sp_execute(lock ? &locking : &plain, values, NULL, false, 1);
	if (SPI_processed == 0)
		return false;
	organization_from_row(0, organization);
	return true;
}

/*
 * The organization owning a (normalised) domain, primary or not, locked
 * when lock is true.
 */
static bool
organization_by_domain(int64 workspace_id, const char *domain, bool lock,
					   SpOrganization *organization)
{
#define BY_ANY_DOMAIN \
	"SELECT " ORGANIZATION_COLUMNS " FROM simpleproduct.organizations" \
	" WHERE workspace_id" EQ "$1 AND id" EQ \
	" (SELECT organization_id FROM simpleproduct.organization_domains" \
	"  WHERE workspace_id" EQ "$1 AND domain" EQ "$2)"
	static SpPlan plain = {BY_ANY_DOMAIN, 2, {INT8OID, TEXTOID}};
	static SpPlan locking = {BY_ANY_DOMAIN " FOR NO KEY UPDATE", 2,
	{INT8OID, TEXTOID}};
	Datum		values[2];

	values[0] = Int64GetDatum(workspace_id);
	values[1] = CStringGetTextDatum(domain);
	sp_execute(lock ? &locking : &plain, values, NULL, false, 1);
	if (SPI_processed == 0)
		return false;
	organization_from_row(0, organization);
	return true;
}

/*
 * Insert or update an organization row with the values in *values; for an
 * update, values->id names the row.  *result receives the stored row.
 */
static void
organization_write(int64 workspace_id, bool insert, bool domain_changed,
				   const SpOrganization *values, SpOrganization *result)
{
	static SpPlan insert_plan = {
		"INSERT INTO simpleproduct.organizations (workspace_id, domain,"
		" name, properties) VALUES ($1, $3, $4, $5)"
		" RETURNING " ORGANIZATION_COLUMNS,
		5, {INT8OID, UUIDOID, TEXTOID, TEXTOID, JSONBOID}
	};
	static SpPlan update_plan = {
		"UPDATE simpleproduct.organizations SET domain = $3, name = $4,"
		" properties = $5 WHERE workspace_id" EQ "$1 AND id" EQ "$2"
		" RETURNING " ORGANIZATION_COLUMNS,
		5, {INT8OID, UUIDOID, TEXTOID, TEXTOID, JSONBOID}
	};

	/* Without the domain: the domain triggers, and their lock, stay out. */
	static SpPlan update_keep_domain_plan = {
		"UPDATE simpleproduct.organizations SET name = $4,"
		" properties = $5 WHERE workspace_id" EQ "$1 AND id" EQ "$2"
		" RETURNING " ORGANIZATION_COLUMNS,
		5, {INT8OID, UUIDOID, TEXTOID, TEXTOID, JSONBOID}
	};
	Datum		datums[5];
	char		nulls[6] = "     ";

	datums[0] = Int64GetDatum(workspace_id);
	datums[1] = UUIDPGetDatum(&values->id);
	datums[2] = CStringGetTextDatum(values->domain);
	datums[3] = values->name ? CStringGetTextDatum(values->name) : 0;
	nulls[3] = values->name ? ' ' : 'n';
	datums[4] = JsonbPGetDatum(values->properties);
	sp_execute(insert ? &insert_plan :
			   domain_changed ? &update_plan : &update_keep_domain_plan,
			   datums, nulls, false,
			   0);
	if (SPI_processed != 1)
		elog(ERROR, "organization to update has disappeared");
	organization_from_row(0, result);
}

/*
 * Push "domains": every domain of an organization, the primary first.
 */
static void
push_domains(JsonbParseState **state, int64 workspace_id,
			 const pg_uuid_t *id)
{
	static SpPlan plan = {
		"SELECT domain FROM simpleproduct.organization_domains"
		" WHERE workspace_id" EQ "$1 AND organization_id" EQ "$2"
		" ORDER BY is_primary DESC, domain",
		2, {INT8OID, UUIDOID}
	};
	Datum		values[2];
	uint64		i;

	values[0] = Int64GetDatum(workspace_id);
	values[1] = UUIDPGetDatum(id);
	/* not read-only: the domains the triggers just wrote must be seen */
	sp_execute(&plan, values, NULL, false, 0);
	sp_push_key(state, "domains");
	pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < SPI_processed; i++)
	{
		JsonbValue	domain;

		domain.type = jbvString;
		domain.val.string.val = SPI_getvalue(SPI_tuptable->vals[i],
											 SPI_tuptable->tupdesc, 1);
		domain.val.string.len = strlen(domain.val.string.val);
		pushJsonbValue(state, WJB_ELEM, &domain);
	}
	pushJsonbValue(state, WJB_END_ARRAY, NULL);
}

/*
 * The public JSON form of an organization.
 */
static Jsonb *
organization_to_jsonb(int64 workspace_id, const SpOrganization *organization,
					  int created)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	sp_push_uuid(&state, "id", &organization->id);
	sp_push_string(&state, "name", organization->name);
	sp_push_string(&state, "domain", organization->domain);
	push_domains(&state, workspace_id, &organization->id);
	sp_push_jsonb(&state, "properties", organization->properties);
	sp_push_timestamp(&state, "createdAt", false, organization->created_at);
	sp_push_timestamp(&state, "updatedAt", false, organization->updated_at);
	if (created >= 0)
		sp_push_bool(&state, "created", created == 1);
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(result);
}

/*
 * Push {id, name, domain} of an organization as the value of the key just
 * pushed, or null when id is NULL.
 */
void
sp_push_organization_brief(JsonbParseState **state, int64 workspace_id,
						   const pg_uuid_t *id)
{
	static SpPlan plan = {
		"SELECT id, name, domain FROM simpleproduct.organizations"
		" WHERE workspace_id" EQ "$1 AND id" EQ "$2",
		2, {INT8OID, UUIDOID}
	};
	Datum		values[2];
	JsonbValue	null_value;
	HeapTuple	tuple;
	TupleDesc	desc;

	null_value.type = jbvNull;
	if (id == NULL)
	{
		pushJsonbValue(state, WJB_VALUE, &null_value);
		return;
	}
	values[0] = Int64GetDatum(workspace_id);
	values[1] = UUIDPGetDatum(id);
	/* not read-only: the organization may have been made by this call */
	sp_execute(&plan, values, NULL, false, 1);
	if (SPI_processed == 0)
	{
		pushJsonbValue(state, WJB_VALUE, &null_value);
		return;
	}
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	sp_push_string(state, "id", SPI_getvalue(tuple, desc, 1));
	sp_push_string(state, "name", SPI_getvalue(tuple, desc, 2));
	sp_push_string(state, "domain", SPI_getvalue(tuple, desc, 3));
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

/*
 * Parse an "id" member holding a uuid; a value that is not one raises
 * 22023 when raise is true.
 */
static bool
json_uuid(Jsonb *input, pg_uuid_t *id, bool raise)
{
	bool		present;
	char	   *text = sp_json_string(input, "id", &present);

	if (text == NULL)
		return false;
	if (!sp_parse_uuid(text, id))
	{
		if (raise)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid id: \"%s\"", text),
					 errdetail("Ids are UUIDs as returned by the API.")));
		return false;
	}
	return true;
}

/*
 * The member "domains": an array of domains, each normalised and checked.
 * NULL when absent or null.
 */
static ArrayType *
json_domains(Jsonb *input)
{
	JsonbValue *value = sp_json_get(input, "domains");
	JsonbIterator *it;
	JsonbIteratorToken token;
	JsonbValue	element;
	Datum	   *domains;
	int			count = 0;

	if (value == NULL || value->type == jbvNull)
		return NULL;
	if (value->type != jbvBinary ||
		!JsonContainerIsArray(value->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("\"domains\" must be an array of strings")));

	domains = palloc(sizeof(Datum) *
					 (JsonContainerSize(value->val.binary.data) + 1));
	it = JsonbIteratorInit(value->val.binary.data);
	while ((token = JsonbIteratorNext(&it, &element, true)) != WJB_DONE)
	{
		if (token != WJB_ELEM)
			continue;
		if (element.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("\"domains\" must be an array of strings")));
		domains[count++] = CStringGetTextDatum(sp_organization_domain(
			pnstrdup(element.val.string.val, element.val.string.len)));
	}
	return construct_array(domains, count, TEXTOID, -1, false, TYPALIGN_INT);
}

/*
 * Make an organization's further domains exactly "domains" (its primary
 * domain stays): drop the others, add the missing ones.
 */
static void
sync_domains(int64 workspace_id, const pg_uuid_t *id, ArrayType *domains)
{
	static SpPlan drop_plan = {
		"DELETE FROM simpleproduct.organization_domains"
		" WHERE workspace_id" EQ "$1 AND organization_id" EQ "$2"
		" AND NOT is_primary AND domain OPERATOR(pg_catalog.<>) ALL ($3)",
		3, {INT8OID, UUIDOID, TEXTARRAYOID}
	};
	Datum		values[3];
	Datum	   *elements;
	int			count;
	int			i;

	values[0] = Int64GetDatum(workspace_id);
	values[1] = UUIDPGetDatum(id);
	values[2] = PointerGetDatum(domains);
	sp_execute(&drop_plan, values, NULL, false, 0);

	deconstruct_array(domains, TEXTOID, -1, false, TYPALIGN_INT,
					  &elements, NULL, &count);
	for (i = 0; i < count; i++)
		sp_add_organization_domain(workspace_id, id,
								   TextDatumGetCString(elements[i]), false);
}

/*
 * Apply an identify call's explicit "organization" to a person's values:
 * by id (which must exist), by domain (found, or created with the given
 * name), or null, which hands an explicitly linked person back to
 * automatic linking.  Must be called connected to SPI.
 */
void
sp_organization_for_link(int64 workspace_id, const SpIdentity *identity,
						 SpPerson *person)
{
	SpOrganization organization;

	if (identity->organization_by_id)
	{
		if (!organization_by_id(workspace_id, &identity->organization_id,
								false, &organization))
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("organization %s does not exist",
							sp_uuid_text(&identity->organization_id)),
					 errhint("Link by {\"domain\": ...} to create it on the way.")));
	}
	else if (identity->organization_domain != NULL)
	{
		sp_lock_identifier(workspace_id, 'd', identity->organization_domain);
		if (!organization_by_domain(workspace_id,
									identity->organization_domain, false,
									&organization))
		{
			SpOrganization values;

			memset(&values, 0, sizeof(values));
			values.domain = identity->organization_domain;
			values.name = identity->organization_name;
			values.properties = sp_empty_object();
			organization_write(workspace_id, true, true, &values,
							   &organization);
		}
	}
	else
	{
		if (person->organization_explicit)
		{
			person->has_organization = false;
			person->organization_explicit = false;
		}
		return;
	}

	person->has_organization = true;
	person->organization_id = organization.id;
	person->organization_explicit = true;
}

PG_FUNCTION_INFO_V1(sp_upsert_org);

/*
 * SQL: simpleproduct.sp_upsert_org(jsonb).  {name, domain, domains,
 * properties}, and optionally "id" to change an existing organization (its
 * primary domain included).  "domain" finds the organization owning it,
 * primary or not; "domains" lists all its further domains.  "name" absent
 * keeps the name, null clears it; properties are a merge patch.  Returns
 * the organization with "created".
 */
Datum
sp_upsert_org(PG_FUNCTION_ARGS)
{
	Jsonb	   *input = PG_GETARG_JSONB_P(0);
	int64		workspace_id;
	bool		has_id;
	pg_uuid_t	id;
	bool		present;
	char	   *domain_text;
	char	   *domain = NULL;
	JsonbValue *name;
	Jsonb	   *properties;
	ArrayType  *domains;
	SpOrganization current;
	SpOrganization next;
	SpOrganization stored;
	bool		exists;
	Jsonb	   *result;

	sp_require_object(input, "the organization");
	has_id = json_uuid(input, &id, true);
	domain_text = sp_json_string(input, "domain", &present);
	if (domain_text != NULL)
		domain = sp_organization_domain(domain_text);
	else if (!has_id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an organization needs a domain"),
				 errhint("Pass {\"name\": \"Acme Inc\", \"domain\": \"acme.com\"}.")));
	name = sp_json_get(input, "name");
	if (name != NULL && name->type != jbvString && name->type != jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("\"name\" must be a string or null")));
	properties = sp_json_object(input, "properties", &present);
	domains = json_domains(input);

	workspace_id = sp_current_workspace();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (domain != NULL)
		sp_lock_identifier(workspace_id, 'd', domain);
	if (has_id)
	{
		SpOrganization holder;

		exists = organization_by_id(workspace_id, &id, true, &current);
		if (!exists)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("organization %s does not exist", sp_uuid_text(&id)),
					 errhint("Omit \"id\" to create an organization.")));
		if (domain != NULL &&
			organization_by_domain(workspace_id, domain, false, &holder) &&
			memcmp(&holder.id, &id, sizeof(pg_uuid_t)) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_SP_IDENTITY_CONFLICT),
					 errmsg("domain \"%s\" already belongs to another organization",
							domain),
					 errhint("Update that organization instead, or give it another domain first.")));
	}
	else
		exists = organization_by_domain(workspace_id, domain, true,
										&current);

	if (exists)
		next = current;
	else
	{
		memset(&next, 0, sizeof(next));
		next.properties = sp_empty_object();
	}
	/* A domain finds its organization; only an "id" call moves the primary. */
	if (domain != NULL && (has_id || !exists))
		next.domain = domain;
	if (name != NULL)
		next.name = name->type == jbvString ?
			pnstrdup(name->val.string.val, name->val.string.len) : NULL;
	if (properties != NULL)
		next.properties = sp_merge_patch(next.properties, properties);

	if (exists &&
		!sp_strings_differ(next.domain, current.domain) &&
		!sp_strings_differ(next.name, current.name) &&
		!sp_jsonb_differ(next.properties, current.properties))
		stored = current;
	else
		organization_write(workspace_id, !exists,
						   !exists || sp_strings_differ(next.domain,
														current.domain),
						   &next, &stored);
	if (domains != NULL)
		sync_domains(workspace_id, &stored.id, domains);

	result = sp_jsonb_for_caller(organization_to_jsonb(workspace_id, &stored,
													   exists ? 0 : 1));
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}

PG_FUNCTION_INFO_V1(sp_find_org);

/*
 * SQL: simpleproduct.sp_find_org(jsonb).  {"id"} or {"domain"}; returns
 * the organization or NULL.
 */
Datum
sp_find_org(PG_FUNCTION_ARGS)
{
	Jsonb	   *lookup = PG_GETARG_JSONB_P(0);
	int64		workspace_id;
	bool		has_id;
	bool		has_domain;
	pg_uuid_t	id;
	char	   *domain;
	SpOrganization organization;
	bool		found = false;
	Jsonb	   *result = NULL;

	sp_require_object(lookup, "the lookup");
	has_id = sp_json_get(lookup, "id") != NULL;
	domain = sp_json_string(lookup, "domain", &has_domain);
	if ((int) has_id + (int) has_domain != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an organization lookup takes exactly one of \"id\" or \"domain\"")));
	if (domain != NULL)
		domain = sp_normalize_domain(domain, true);

	workspace_id = sp_current_workspace();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (has_id && json_uuid(lookup, &id, false))
		found = organization_by_id(workspace_id, &id, false, &organization);
	else if (domain != NULL)
		found = organization_by_domain(workspace_id, domain, false,
									   &organization);
	if (found)
		result = sp_jsonb_for_caller(organization_to_jsonb(workspace_id,
														   &organization,
														   -1));
	SPI_finish();

	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(result);
}
