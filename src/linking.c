/*
 * linking.c
 *		The triggers that keep identifiers normalised and people linked to
 *		organizations by email domain, whichever way rows arrive.
 *
 * A person is linked to the organization whose domain equals the email's
 * domain or is its nearest parent, never above the email's registrable
 * domain (email_root), and never when the email is at a public email
 * provider (email_root is then NULL).  A link the caller set explicitly is
 * never overwritten by the automatic one.
 *
 * people_before_write normalises a person's email and externalId, keeps
 * email_domain and email_root true, and links the person when the email
 * changes.  organizations_before_write normalises an organization's domain.
 * organizations_after_write, on a new or re-domained organization, relinks
 * the affected people in one set-based UPDATE; while it runs, the person
 * trigger takes the links it writes as automatic ones.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/rel.h"

#include "simpleproduct.h"


/* Nesting depth of relinking done by organizations_after_write. */
static int	relink_depth = 0;

/*
 * Refuse to run except as a row-level BEFORE/AFTER trigger for the events
 * named.
 */
static TriggerData *
check_trigger(FunctionCallInfo fcinfo, const char *name, bool before)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: not called by trigger manager", name)));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		(before != TRIGGER_FIRED_BEFORE(trigdata->tg_event)) ||
		TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be fired %s INSERT or UPDATE for each row",
						name, before ? "before" : "after")));
	return trigdata;
}

/*
 * The text value of a column of a tuple, or NULL.
 */
static char *
column_text(HeapTuple tuple, TupleDesc desc, int attnum)
{
	return SPI_getvalue(tuple, desc, attnum);
}

/*
 * The organization to link a person at email_domain to: the one whose
 * domain is email_domain or its nearest parent, at or below email_root.
 * Returns false when there is none.  Must be called connected to SPI.
 */
bool
sp_best_organization(int64 workspace_id, const char *email_domain,
					 const char *email_root, pg_uuid_t *result)
{
	static SpPlan plan = {
		"SELECT d.organization_id FROM simpleproduct.organization_domains d"
		" JOIN simpleproduct.organizations o"
		"  ON o.workspace_id" EQ "d.workspace_id"
		"  AND o.id" EQ "d.organization_id"
		" WHERE d.workspace_id" EQ "$1 AND d.domain" EQ "ANY ($2)"
		" ORDER BY pg_catalog.length(d.domain) DESC LIMIT 1",
		2, {INT8OID, TEXTARRAYOID}
	};
	Datum		candidates[128];
	int			count = 0;
	const char *suffix = email_domain;
	size_t		root_len = strlen(email_root);
	Datum		values[2];
	bool		isnull;

	for (;;)
	{
		candidates[count++] = CStringGetTextDatum(suffix);
		if (strlen(suffix) <= root_len || count == lengthof(candidates))
			break;
		suffix = strchr(suffix, '.') + 1;
	}

	values[0] = Int64GetDatum(workspace_id);
	values[1] = PointerGetDatum(construct_array(candidates, count, TEXTOID,
												-1, false, TYPALIGN_INT));
	/* not read-only: a fresh snapshot sees organizations committed while
	 * this transaction waited for the registrable domain's lock */
	sp_execute(&plan, values, NULL, false, 1);
	if (SPI_processed == 0)
		return false;
	memcpy(result,
		   DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull)),
		   sizeof(pg_uuid_t));
	return true;
}

/*
 * Whether column attnum differs between two tuples (by binary image).
 */
static bool
column_changed(HeapTuple old_tuple, HeapTuple new_tuple, TupleDesc desc,
			   int attnum)
{
	Form_pg_attribute attr = TupleDescAttr(desc, attnum - 1);
	bool		old_null;
	bool		new_null;
	Datum		old_value = heap_getattr(old_tuple, attnum, desc, &old_null);
	Datum		new_value = heap_getattr(new_tuple, attnum, desc, &new_null);

	if (old_null || new_null)
		return old_null != new_null;
	return !datumIsEqual(old_value, new_value, attr->attbyval, attr->attlen);
}

/* Columns of simpleproduct.people the person trigger reads or writes. */
typedef struct PeopleColumns
{
	int			workspace_id;
	int			external_id;
	int			email;
	int			email_domain;
	int			email_root;
	int			name;
	int			properties;
	int			organization_id;
	int			organization_explicit;
	int			updated_at;
} PeopleColumns;

/*
 * Find the person columns by name, so the trigger does not depend on their
 * order.  The answer is kept for the relation it was found in.
 */
static void
people_columns(Relation relation, PeopleColumns *result)
{
	static Oid	cached_relid = InvalidOid;
	static int	cached_natts = 0;
	static PeopleColumns cached;
	TupleDesc	desc = RelationGetDescr(relation);
	PeopleColumns *columns = &cached;

	if (RelationGetRelid(relation) == cached_relid &&
		desc->natts == cached_natts)
	{
		*result = cached;
		return;
	}

	columns->workspace_id = SPI_fnumber(desc, "workspace_id");
	columns->external_id = SPI_fnumber(desc, "external_id");
	columns->email = SPI_fnumber(desc, "email");
	columns->email_domain = SPI_fnumber(desc, "email_domain");
	columns->email_root = SPI_fnumber(desc, "email_root");
	columns->name = SPI_fnumber(desc, "name");
	columns->properties = SPI_fnumber(desc, "properties");
	columns->organization_id = SPI_fnumber(desc, "organization_id");
	columns->organization_explicit =
		SPI_fnumber(desc, "organization_explicit");
	columns->updated_at = SPI_fnumber(desc, "updated_at");
	if (columns->updated_at <= 0 || columns->organization_explicit <= 0 ||
		columns->email_root <= 0)
		elog(ERROR, "people_before_write: unexpected table layout");
	cached_relid = RelationGetRelid(relation);
	cached_natts = desc->natts;
	*result = cached;
}

/* A set of column replacements for heap_modify_tuple. */
typedef struct Replacements
{
	Datum	   *values;
	bool	   *nulls;
	bool	   *replace;
	int			changes;		/* how many columns are replaced */
} Replacements;

/*
 * An empty set of replacements for a tuple of natts columns.
 */
static void
replacements_init(Replacements *r, int natts)
{
	r->values = palloc0(natts * sizeof(Datum));
	r->nulls = palloc0(natts * sizeof(bool));
	r->replace = palloc0(natts * sizeof(bool));
	r->changes = 0;
}

/*
 * Set column attnum to a text value (NULL for SQL NULL).
 */
static void
set_text_column(Replacements *r, int attnum, const char *value)
{
	r->values[attnum - 1] = value ? CStringGetTextDatum(value) : (Datum) 0;
	r->nulls[attnum - 1] = (value == NULL);
	r->replace[attnum - 1] = true;
	r->changes++;
}

/*
 * Take, exclusively, the linking lock of the workspace of an organization
 * or organization domain row, before the write relinks any person.
 */
static void
lock_linking_of(HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Datum		workspace_id;

	workspace_id = heap_getattr(tuple, SPI_fnumber(desc, "workspace_id"),
								desc, &isnull);
	if (!isnull)
		sp_lock_workspace_linking(DatumGetInt64(workspace_id), true);
}

/*
 * The current trigger nesting depth: 1 for a trigger fired by a statement
 * of the caller's, more for one fired by another trigger or a cascade.
 */
static int
trigger_depth(void)
{
	return DatumGetInt32(DirectFunctionCall1(pg_trigger_depth, (Datum) 0));
}

PG_FUNCTION_INFO_V1(sp_people_before_write);

/*
 * Trigger: BEFORE INSERT OR UPDATE ON simpleproduct.people.
 */
Datum
sp_people_before_write(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = check_trigger(fcinfo, "people_before_write",
										  true);
	bool		inserting = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event);
	HeapTuple	old_tuple = inserting ? NULL : trigdata->tg_trigtuple;
	HeapTuple	new_tuple = inserting ? trigdata->tg_trigtuple :
		trigdata->tg_newtuple;
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	int			natts = desc->natts;
	PeopleColumns col;
	Replacements r;
	char	   *email;
	char	   *email_domain = NULL;
	char	   *email_root = NULL;
	bool		email_changed;
	bool		isnull;
	bool		explicit_link;
	bool		relink = false;
	bool		data_changed;

	people_columns(trigdata->tg_relation, &col);
	replacements_init(&r, natts);

	/* externalId: trimmed, and never one of the junk values. */
	if (inserting || column_changed(old_tuple, new_tuple, desc,
									col.external_id))
	{
		char	   *external_id = column_text(new_tuple, desc,
											  col.external_id);

		if (external_id != NULL)
			set_text_column(&r, col.external_id,
						 sp_normalize_external_id(external_id,
												  strlen(external_id)));
	}

	/* properties: a JSON object. */
	if (inserting || column_changed(old_tuple, new_tuple, desc,
									col.properties))
	{
		Datum		properties = heap_getattr(new_tuple, col.properties,
											  desc, &isnull);

		if (!isnull && !JB_ROOT_IS_OBJECT(DatumGetJsonbP(properties)))
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("properties must be a JSON object")));
	}

	/* email: normalised, with its domain and registrable domain. */
	email_changed = inserting ||
		column_changed(old_tuple, new_tuple, desc, col.email);
	email = column_text(new_tuple, desc, col.email);
	if (email == NULL &&
		heap_attisnull(new_tuple, col.external_id, desc))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a person needs an externalId or an email"),
				 errhint("Set external_id or email.")));
	if (email_changed && email != NULL)
	{
		email = sp_normalize_email(email, true, &email_domain);
		email_root = sp_email_root(email_domain);
		set_text_column(&r, col.email, email);
	}
	if (email_changed)
	{
		set_text_column(&r, col.email_domain, email_domain);
		set_text_column(&r, col.email_root, email_root);
	}
	else
	{
		/*
		 * Derived columns follow the email: a write of them alone is undone,
		 * except when sp_relink fixes them.
		 */
		HeapTuple	source = relink_depth > 0 ? new_tuple : old_tuple;

		email_domain = column_text(source, desc, col.email_domain);
		email_root = column_text(source, desc, col.email_root);
		if (relink_depth == 0 &&
			(column_changed(old_tuple, new_tuple, desc, col.email_domain) ||
			 column_changed(old_tuple, new_tuple, desc, col.email_root)))
		{
			set_text_column(&r, col.email_domain, email_domain);
			set_text_column(&r, col.email_root, email_root);
		}
	}

	/*
	 * The link.  A link written by the caller is explicit; clearing the
	 * link, or clearing the explicit flag, returns the person to automatic
	 * linking; links written while relinking are automatic.
	 */
	explicit_link = DatumGetBool(heap_getattr(new_tuple,
											  col.organization_explicit,
											  desc, &isnull));
	if (relink_depth > 0)
		explicit_link = false;
	else if (inserting)
	{
		(void) heap_getattr(new_tuple, col.organization_id, desc, &isnull);
		explicit_link = !isnull;
		relink = isnull;
	}
	else if (column_changed(old_tuple, new_tuple, desc,
							col.organization_id))
	{
		(void) heap_getattr(new_tuple, col.organization_id, desc, &isnull);
		explicit_link = !isnull;
		relink = isnull;
	}
	else
		relink = !explicit_link && (email_changed ||
									column_changed(old_tuple, new_tuple, desc,
												   col.organization_explicit));

	if (relink)
	{
		pg_uuid_t	organization;
		int64		workspace_id;
		bool		found = false;

		workspace_id = DatumGetInt64(heap_getattr(new_tuple,
												  col.workspace_id, desc,
												  &isnull));
		if (email_root != NULL)
		{
			sp_lock_workspace_linking(workspace_id, false);
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			found = sp_best_organization(workspace_id, email_domain,
										 email_root, &organization);
			SPI_finish();
		}
		if (found)
		{
			pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));

			memcpy(copy, &organization, sizeof(pg_uuid_t));
			r.values[col.organization_id - 1] = UUIDPGetDatum(copy);
		}
		r.nulls[col.organization_id - 1] = !found;
		r.replace[col.organization_id - 1] = true;
		r.changes++;
	}
	if (explicit_link != DatumGetBool(heap_getattr(new_tuple,
												   col.organization_explicit,
												   desc, &isnull)))
	{
		r.values[col.organization_explicit - 1] = BoolGetDatum(explicit_link);
		r.replace[col.organization_explicit - 1] = true;
		r.changes++;
	}

	/* updated_at follows a change of the person's data, not lastSeenAt. */
	data_changed = !inserting &&
		(email_changed || relink ||
		 column_changed(old_tuple, new_tuple, desc, col.external_id) ||
		 column_changed(old_tuple, new_tuple, desc, col.name) ||
		 column_changed(old_tuple, new_tuple, desc, col.properties) ||
		 column_changed(old_tuple, new_tuple, desc, col.organization_id));
	if (data_changed &&
		!column_changed(old_tuple, new_tuple, desc, col.updated_at))
	{
		r.values[col.updated_at - 1] =
			TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		r.replace[col.updated_at - 1] = true;
		r.changes++;
	}

	if (r.changes > 0)
		new_tuple = heap_modify_tuple(new_tuple, desc, r.values, r.nulls,
									  r.replace);
	return PointerGetDatum(new_tuple);
}

PG_FUNCTION_INFO_V1(sp_organizations_before_write);

/*
 * Trigger: BEFORE INSERT OR UPDATE ON simpleproduct.organizations.
 * Normalises the domain (refusing public suffixes and email providers),
 * keeps domain_root true, and moves updated_at on a change.
 */
Datum
sp_organizations_before_write(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = check_trigger(fcinfo,
										  "organizations_before_write",
										  true);
	bool		inserting = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event);
	HeapTuple	old_tuple = inserting ? NULL : trigdata->tg_trigtuple;
	HeapTuple	new_tuple = inserting ? trigdata->tg_trigtuple :
		trigdata->tg_newtuple;
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	int			natts = desc->natts;
	int			domain_col = SPI_fnumber(desc, "domain");
	int			root_col = SPI_fnumber(desc, "domain_root");
	int			updated_col = SPI_fnumber(desc, "updated_at");
	Replacements r;
	char	   *domain;
	char	   *root = NULL;

	if (domain_col <= 0 || root_col <= 0 || updated_col <= 0)
		elog(ERROR, "organizations_before_write: unexpected table layout");
	replacements_init(&r, natts);

	domain = column_text(new_tuple, desc, domain_col);
	if (inserting || column_changed(old_tuple, new_tuple, desc, domain_col))
	{
		if (domain != NULL)
		{
			domain = sp_organization_domain(domain);
			root = sp_registrable(domain);
		}
		set_text_column(&r, domain_col, domain);
		lock_linking_of(new_tuple, desc);
	}
	else
		root = column_text(old_tuple, desc, root_col);
	set_text_column(&r, root_col, root);

	if (!inserting &&
		!column_changed(old_tuple, new_tuple, desc, updated_col))
	{
		r.values[updated_col - 1] =
			TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		r.replace[updated_col - 1] = true;
	}

	new_tuple = heap_modify_tuple(new_tuple, desc, r.values, r.nulls,
								  r.replace);
	return PointerGetDatum(new_tuple);
}

/*
 * Best-organization subquery for a person row "p": the organization owning
 * the nearest domain at or above p's email domain, within its registrable
 * domain.
 */
#define BEST_ORGANIZATION_OF(p) \
	"(SELECT d.organization_id FROM simpleproduct.organization_domains d" \
	" JOIN simpleproduct.organizations o" \
	"  ON o.workspace_id" EQ "d.workspace_id" \
	"  AND o.id" EQ "d.organization_id" \
	" WHERE d.workspace_id" EQ p ".workspace_id" \
	" AND d.domain_root" EQ p ".email_root" \
	" AND (d.domain" EQ p ".email_domain" \
	"  OR pg_catalog.\"right\"(" p ".email_domain," \
	"     pg_catalog.length(d.domain) OPERATOR(pg_catalog.+) 1)" EQ \
	"     ('.' OPERATOR(pg_catalog.||) d.domain))" \
	" ORDER BY pg_catalog.length(d.domain) DESC LIMIT 1)"
#define BEST_ORGANIZATION_OF_P BEST_ORGANIZATION_OF("p")

/*
 * A domain left an organization: relink the people automatically linked to
 * that organization within the domain's registrable domain, each to its
 * best organization now.
 */
static void
relink_away(int64 workspace_id, const pg_uuid_t *organization,
			const char *root)
{
	static SpPlan plan = {
		"UPDATE simpleproduct.people p SET organization_id ="
		BEST_ORGANIZATION_OF_P
		" WHERE p.workspace_id" EQ "$1 AND p.organization_id" EQ "$2"
		" AND p.email_root" EQ "$3 AND NOT p.organization_explicit",
		3, {INT8OID, UUIDOID, TEXTOID}
	};
	Datum		values[3];

	if (root == NULL)
		return;
	values[0] = Int64GetDatum(workspace_id);
	values[1] = UUIDPGetDatum(organization);
	values[2] = CStringGetTextDatum(root);
	sp_execute(&plan, values, NULL, false, 0);
}

/*
 * A domain joined an organization: link to it the people whose email is at
 * the domain or below it, who are unlinked or linked (automatically) to an
 * organization through a farther parent.
 */
static void
relink_toward(int64 workspace_id, const pg_uuid_t *organization,
			  const char *domain, const char *root)
{
	static SpPlan plan = {
		"UPDATE simpleproduct.people p SET organization_id = $2"
		" WHERE p.workspace_id" EQ "$1 AND p.email_root" EQ "$3"
		" AND NOT p.organization_explicit"
		" AND (p.email_domain" EQ "$4"
		"  OR pg_catalog.\"right\"(p.email_domain, $5)" EQ "$6)"
		" AND (p.organization_id IS NULL"
		"  OR (p.organization_id OPERATOR(pg_catalog.<>) $2"
		"   AND NOT EXISTS (SELECT FROM simpleproduct.organization_domains d"
		"    WHERE d.workspace_id" EQ "p.workspace_id"
		"    AND d.organization_id" EQ "p.organization_id"
		"    AND pg_catalog.length(d.domain) OPERATOR(pg_catalog.>)"
		"        ($5 OPERATOR(pg_catalog.-) 1)"
		"    AND (d.domain" EQ "p.email_domain"
		"     OR pg_catalog.\"right\"(p.email_domain,"
		"        pg_catalog.length(d.domain) OPERATOR(pg_catalog.+) 1)" EQ
		"        ('.' OPERATOR(pg_catalog.||) d.domain)))))",
		6, {INT8OID, UUIDOID, TEXTOID, TEXTOID, INT4OID, TEXTOID}
	};
	Datum		values[6];

	if (root == NULL)
		return;
	values[0] = Int64GetDatum(workspace_id);
	values[1] = UUIDPGetDatum(organization);
	values[2] = CStringGetTextDatum(root);
	values[3] = CStringGetTextDatum(domain);
	values[4] = Int32GetDatum(strlen(domain) + 1);
	values[5] = CStringGetTextDatum(psprintf(".%s", domain));
	sp_execute(&plan, values, NULL, false, 0);
}

/*
 * Run relink_away and/or relink_toward with the person trigger told that
 * the links it sees written are automatic ones, holding the workspace's
 * linking lock exclusively so that no person is being linked meanwhile.
 */
static void
relink(int64 workspace_id, const pg_uuid_t *old_organization,
	   const char *old_root, const pg_uuid_t *new_organization,
	   const char *new_domain, const char *new_root)
{
	sp_lock_workspace_linking(workspace_id, true);

	relink_depth++;
	PG_TRY();
	{
		if (old_organization != NULL)
			relink_away(workspace_id, old_organization, old_root);
		if (new_organization != NULL)
			relink_toward(workspace_id, new_organization, new_domain,
						  new_root);
	}
	PG_CATCH();
	{
		relink_depth--;
		PG_RE_THROW();
	}
	PG_END_TRY();
	relink_depth--;
}

/*
 * Read workspace_id (int8) and a uuid column of a tuple.
 */
static void
tuple_ids(HeapTuple tuple, TupleDesc desc, const char *uuid_column,
		  int64 *workspace_id, pg_uuid_t *uuid)
{
	bool		isnull;

	*workspace_id = DatumGetInt64(heap_getattr(tuple,
											   SPI_fnumber(desc, "workspace_id"),
											   desc, &isnull));
	memcpy(uuid, DatumGetUUIDP(heap_getattr(tuple,
											SPI_fnumber(desc, uuid_column),
											desc, &isnull)),
		   sizeof(pg_uuid_t));
}

/*
 * Give an organization a domain: add the organization_domains row, or find
 * it already the organization's (then, for the primary domain, mark it so).
 * A domain owned by another organization is a conflict.
 */
void
sp_add_organization_domain(int64 workspace_id, const pg_uuid_t *organization,
						   const char *domain, bool primary)
{
	static SpPlan owner_plan = {
		"SELECT organization_id FROM simpleproduct.organization_domains"
		" WHERE workspace_id" EQ "$1 AND domain" EQ "$2",
		2, {INT8OID, TEXTOID}
	};
	static SpPlan promote_plan = {
		"UPDATE simpleproduct.organization_domains SET is_primary = true"
		" WHERE workspace_id" EQ "$1 AND domain" EQ "$2",
		2, {INT8OID, TEXTOID}
	};
	static SpPlan add_plan = {
		"INSERT INTO simpleproduct.organization_domains"
		" (workspace_id, domain, organization_id, is_primary)"
		" VALUES ($1, $2, $3, $4)",
		4, {INT8OID, TEXTOID, UUIDOID, BOOLOID}
	};
	Datum		values[4];
	bool		isnull;

	values[0] = Int64GetDatum(workspace_id);
	values[1] = CStringGetTextDatum(domain);
	values[2] = UUIDPGetDatum(organization);
	values[3] = BoolGetDatum(primary);
	sp_execute(&owner_plan, values, NULL, false, 1);
	if (SPI_processed == 0)
	{
		sp_execute(&add_plan, values, NULL, false, 0);
		return;
	}
	if (memcmp(DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1,
										   &isnull)),
			   organization, sizeof(pg_uuid_t)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SP_IDENTITY_CONFLICT),
				 errmsg("domain \"%s\" already belongs to another organization",
						domain),
				 errhint("Remove it from that organization first.")));
	if (primary)
		sp_execute(&promote_plan, values, NULL, false, 0);
}

/*
 * Make the organization_domains row of an organization's primary domain
 * follow the organization: drop the old one, add (or promote) the new one.
 */
static void
sync_primary_domain(int64 workspace_id, const pg_uuid_t *organization,
					const char *old_domain, const char *new_domain)
{
	static SpPlan drop_plan = {
		"DELETE FROM simpleproduct.organization_domains"
		" WHERE workspace_id" EQ "$1 AND domain" EQ "$2"
		" AND organization_id" EQ "$3",
		3, {INT8OID, TEXTOID, UUIDOID}
	};
	Datum		values[3];

	if (old_domain != NULL)
	{
		values[0] = Int64GetDatum(workspace_id);
		values[1] = CStringGetTextDatum(old_domain);
		values[2] = UUIDPGetDatum(organization);
		sp_execute(&drop_plan, values, NULL, false, 0);
	}
	if (new_domain != NULL)
		sp_add_organization_domain(workspace_id, organization, new_domain,
								   true);
}

PG_FUNCTION_INFO_V1(sp_organizations_after_write);

/*
 * Trigger: AFTER INSERT OR UPDATE OF domain ON simpleproduct.organizations.
 * The primary domain is one of the organization's domains; the triggers on
 * organization_domains do the relinking.
 */
Datum
sp_organizations_after_write(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = check_trigger(fcinfo,
										  "organizations_after_write",
										  false);
	bool		inserting = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event);
	HeapTuple	new_tuple = inserting ? trigdata->tg_trigtuple :
		trigdata->tg_newtuple;
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	int			domain_col = SPI_fnumber(desc, "domain");
	int64		workspace_id;
	pg_uuid_t	id;

	if (!inserting &&
		!column_changed(trigdata->tg_trigtuple, new_tuple, desc, domain_col))
		return PointerGetDatum(NULL);

	tuple_ids(new_tuple, desc, "id", &workspace_id, &id);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	sync_primary_domain(workspace_id, &id,
						inserting ? NULL :
						column_text(trigdata->tg_trigtuple, desc, domain_col),
						column_text(new_tuple, desc, domain_col));
	SPI_finish();
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(sp_organization_domains_before_write);

/*
 * Trigger: BEFORE INSERT OR UPDATE ON simpleproduct.organization_domains.
 * Normalises the domain, refuses public suffixes and email providers, and
 * keeps domain_root true.
 */
Datum
sp_organization_domains_before_write(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = check_trigger(fcinfo,
										  "organization_domains_before_write",
										  true);
	bool		inserting = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event);
	HeapTuple	new_tuple = inserting ? trigdata->tg_trigtuple :
		trigdata->tg_newtuple;
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	int			domain_col = SPI_fnumber(desc, "domain");
	int			root_col = SPI_fnumber(desc, "domain_root");
	Replacements r;
	bool		isnull;
	char	   *domain;

	replacements_init(&r, desc->natts);

	/*
	 * The primary domain row follows organizations.domain (by the
	 * organization's trigger, one trigger level down); by hand, only further
	 * domains may be added and removed, never rewritten.
	 */
	if (!inserting && trigger_depth() <= 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rows of simpleproduct.organization_domains cannot be updated"),
				 errhint("Delete the domain and insert the new one, or change organizations.domain for the primary domain.")));
	if (DatumGetBool(heap_getattr(new_tuple, SPI_fnumber(desc, "is_primary"),
								  desc, &isnull)) &&
		trigger_depth() <= 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the primary domain of an organization is its organizations.domain"),
				 errhint("Insert further domains with is_primary false.")));

	domain = column_text(new_tuple, desc, domain_col);
	if (domain != NULL)
	{
		domain = sp_organization_domain(domain);
		set_text_column(&r, domain_col, domain);
		set_text_column(&r, root_col, sp_registrable(domain));
	}
	lock_linking_of(new_tuple, desc);
	new_tuple = heap_modify_tuple(new_tuple, desc, r.values, r.nulls,
								  r.replace);
	return PointerGetDatum(new_tuple);
}

PG_FUNCTION_INFO_V1(sp_organization_statement);

/*
 * Trigger: BEFORE INSERT OR UPDATE OF domain OR DELETE ... FOR EACH
 * STATEMENT on simpleproduct.organizations and organization_domains.  Takes
 * the current workspace's linking lock exclusively before the statement
 * locks any row, so that a writer of domains and an identify (which holds
 * the lock shared while it references organizations) wait on each other in
 * one order only.  The row triggers take the lock of each row's workspace
 * too, for statements that write in another workspace.
 */
Datum
sp_organization_statement(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("organization_statement: must be fired before each statement")));
	sp_lock_workspace_linking(sp_current_workspace(), true);
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(sp_organizations_before_delete);

/*
 * Trigger: BEFORE DELETE ON simpleproduct.organizations and
 * simpleproduct.organization_domains.  Takes the workspace's linking lock
 * before the deletion relinks any person, as every writer of domains does;
 * a primary domain row goes only with its organization.
 */
Datum
sp_organizations_before_delete(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	int			primary_col;
	bool		isnull;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("organizations_before_delete: must be fired before delete for each row")));
	desc = RelationGetDescr(trigdata->tg_relation);
	primary_col = SPI_fnumber(desc, "is_primary");
	if (primary_col > 0 &&
		DatumGetBool(heap_getattr(trigdata->tg_trigtuple, primary_col, desc,
								  &isnull)) &&
		trigger_depth() <= 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the primary domain of an organization goes only with the organization"),
				 errhint("Delete the organization, or change its organizations.domain.")));
	lock_linking_of(trigdata->tg_trigtuple, desc);
	return PointerGetDatum(trigdata->tg_trigtuple);
}

PG_FUNCTION_INFO_V1(sp_organization_domains_after_write);

/*
 * Trigger: AFTER INSERT OR UPDATE OR DELETE ON
 * simpleproduct.organization_domains.  A domain that leaves an organization
 * relinks its people elsewhere; one that joins picks its people up.
 */
Datum
sp_organization_domains_after_write(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	old_tuple = NULL;
	HeapTuple	new_tuple = NULL;
	int64		workspace_id;
	pg_uuid_t	old_organization;
	pg_uuid_t	new_organization;
	int			domain_col;
	int			root_col;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("organization_domains_after_write: must be fired after each row")));
	desc = RelationGetDescr(trigdata->tg_relation);
	domain_col = SPI_fnumber(desc, "domain");
	root_col = SPI_fnumber(desc, "domain_root");

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		new_tuple = trigdata->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		old_tuple = trigdata->tg_trigtuple;
	else
	{
		old_tuple = trigdata->tg_trigtuple;
		new_tuple = trigdata->tg_newtuple;
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (old_tuple != NULL)
		tuple_ids(old_tuple, desc, "organization_id", &workspace_id,
				  &old_organization);
	if (new_tuple != NULL)
		tuple_ids(new_tuple, desc, "organization_id", &workspace_id,
				  &new_organization);
	relink(workspace_id,
		   old_tuple ? &old_organization : NULL,
		   old_tuple ? column_text(old_tuple, desc, root_col) : NULL,
		   new_tuple ? &new_organization : NULL,
		   new_tuple ? column_text(new_tuple, desc, domain_col) : NULL,
		   new_tuple ? column_text(new_tuple, desc, root_col) : NULL);
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * sp_relink, step one: give every distinct email domain (and organization
 * domain) of the workspace the registrable domain and provider status the
 * current lists say.  Returns how many people changed.
 */
static uint64
relink_roots(int64 workspace_id)
{
	static SpPlan people_domains = {
		"SELECT DISTINCT email_domain, email_root FROM simpleproduct.people"
		" WHERE workspace_id" EQ "$1 AND email_domain IS NOT NULL",
		1, {INT8OID}
	};
	static SpPlan fix_people = {
		"UPDATE simpleproduct.people p SET email_root = c.root"
		" FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.text[]),"
		"  pg_catalog.unnest($3::pg_catalog.text[])) AS c(domain, root)"
		" WHERE p.workspace_id" EQ "$1 AND p.email_domain" EQ "c.domain",
		3, {INT8OID, TEXTARRAYOID, TEXTARRAYOID}
	};
	static SpPlan organization_domains = {
		"SELECT domain, domain_root FROM simpleproduct.organization_domains"
		" WHERE workspace_id" EQ "$1",
		1, {INT8OID}
	};
	static SpPlan fix_organizations = {
		"UPDATE simpleproduct.organization_domains d SET domain_root = c.root"
		" FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.text[]),"
		"  pg_catalog.unnest($3::pg_catalog.text[])) AS c(domain, root)"
		" WHERE d.workspace_id" EQ "$1 AND d.domain" EQ "c.domain",
		3, {INT8OID, TEXTARRAYOID, TEXTARRAYOID}
	};
	SpPlan	   *lists[2] = {&organization_domains, &people_domains};
	SpPlan	   *fixes[2] = {&fix_organizations, &fix_people};
	uint64		people_changed = 0;
	int			pass;

	for (pass = 0; pass < 2; pass++)
	{
		Datum		values[3];
		Datum	   *domains;
		Datum	   *roots;
		bool	   *root_nulls;
		int			changed = 0;
		uint64		i;
		int			dims[1];
		int			lbs[1] = {1};

		values[0] = Int64GetDatum(workspace_id);
		sp_execute(lists[pass], values, NULL, false, 0);
		domains = palloc(sizeof(Datum) * (SPI_processed + 1));
		roots = palloc(sizeof(Datum) * (SPI_processed + 1));
		root_nulls = palloc(sizeof(bool) * (SPI_processed + 1));
		for (i = 0; i < SPI_processed; i++)
		{
			char	   *domain = SPI_getvalue(SPI_tuptable->vals[i],
											  SPI_tuptable->tupdesc, 1);
			char	   *root = SPI_getvalue(SPI_tuptable->vals[i],
											SPI_tuptable->tupdesc, 2);
			char	   *fresh = pass == 0 ? sp_registrable(domain) :
				sp_email_root(domain);

			if (!sp_strings_differ(root, fresh))
				continue;
			domains[changed] = CStringGetTextDatum(domain);
			roots[changed] = fresh ? CStringGetTextDatum(fresh) : (Datum) 0;
			root_nulls[changed] = (fresh == NULL);
			changed++;
		}
		if (changed == 0)
			continue;
		dims[0] = changed;
		values[1] = PointerGetDatum(construct_array(domains, changed, TEXTOID,
													-1, false, TYPALIGN_INT));
		values[2] = PointerGetDatum(construct_md_array(roots, root_nulls, 1,
													   dims, lbs, TEXTOID, -1,
													   false, TYPALIGN_INT));
		sp_execute(fixes[pass], values, NULL, false, 0);
		if (pass == 1)
			people_changed = SPI_processed;
		ereport(NOTICE,
				(errmsg("relink: %d %s domains have a new registrable domain or provider status",
						changed, pass == 0 ? "organization" : "email")));
	}
	return people_changed;
}

/*
 * sp_relink, step two: recompute the automatic links of the people under a
 * batch of registrable domains, the best organization once per distinct
 * email domain.  Returns how many links changed.
 */
static uint64
relink_batch(int64 workspace_id, Datum roots)
{
	static SpPlan plan = {
		"WITH domains AS (SELECT DISTINCT workspace_id, email_root,"
		"  email_domain FROM simpleproduct.people"
		"  WHERE workspace_id" EQ "$1 AND email_root" EQ "ANY ($2)),"
		" best AS MATERIALIZED (SELECT e.email_root, e.email_domain,"
		"  " BEST_ORGANIZATION_OF("e") " AS org FROM domains e)"
		" UPDATE simpleproduct.people p SET organization_id = best.org"
		" FROM best WHERE p.workspace_id" EQ "$1"
		" AND p.email_root" EQ "best.email_root"
		" AND p.email_domain" EQ "best.email_domain"
		" AND NOT p.organization_explicit"
		" AND NOT (p.organization_id IS NULL AND best.org IS NULL)"
		" AND (p.organization_id IS NULL OR best.org IS NULL"
		"  OR p.organization_id OPERATOR(pg_catalog.<>) best.org)",
		2, {INT8OID, TEXTARRAYOID}
	};
	Datum		values[2];

	values[0] = Int64GetDatum(workspace_id);
	values[1] = roots;
	sp_execute(&plan, values, NULL, false, 0);
	return SPI_processed;
}

/* Registrable domains relinked per statement (and per progress notice). */
#define SP_RELINK_BATCH 2000

PG_FUNCTION_INFO_V1(sp_relink);

/*
 * SQL: simpleproduct.sp_relink(jsonb).  Recomputes the current workspace's
 * domain links after the public email provider list or the Public Suffix
 * List changed, set-based, a batch of registrable domains per statement,
 * with a NOTICE of progress after each.  {"batchSize": n} is optional.
 */
Datum
sp_relink(PG_FUNCTION_ARGS)
{
	static SpPlan roots_plan = {
		"SELECT DISTINCT email_root FROM simpleproduct.people"
		" WHERE workspace_id" EQ "$1 AND email_root IS NOT NULL",
		1, {INT8OID}
	};
	static SpPlan unlinkable_plan = {
		"UPDATE simpleproduct.people SET organization_id = NULL"
		" WHERE workspace_id" EQ "$1 AND email_root IS NULL"
		" AND organization_id IS NOT NULL AND NOT organization_explicit",
		1, {INT8OID}
	};
	Jsonb	   *options = PG_GETARG_JSONB_P(0);
	JsonbValue *batch_option;
	int			batch_size = SP_RELINK_BATCH;
	int64		workspace_id;
	Datum		values[1];
	uint64		roots_changed;
	uint64		links_changed = 0;
	uint64		root_count;
	uint64		done;
	Datum	   *roots;
	bool		isnull;
	JsonbParseState *state = NULL;
	Jsonb	   *result;

	sp_require_object(options, "the options");
	batch_option = sp_json_get(options, "batchSize");
	if (batch_option != NULL)
	{
		if (batch_option->type != jbvNumeric)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("\"batchSize\" must be a number")));
		batch_size = DatumGetInt32(DirectFunctionCall1(numeric_int4,
													   NumericGetDatum(batch_option->val.numeric)));
		if (batch_size < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"batchSize\" must be at least 1")));
	}

	workspace_id = sp_current_workspace();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	relink_depth++;
	PG_TRY();
	{
		roots_changed = relink_roots(workspace_id);

		values[0] = Int64GetDatum(workspace_id);
		sp_execute(&roots_plan, values, NULL, false, 0);
		root_count = SPI_processed;
		roots = palloc(sizeof(Datum) * (root_count + 1));
		for (done = 0; done < root_count; done++)
			roots[done] = SPI_getbinval(SPI_tuptable->vals[done],
										SPI_tuptable->tupdesc, 1, &isnull);

		for (done = 0; done < root_count; done += batch_size)
		{
			int			count = Min(batch_size, root_count - done);

			links_changed +=
				relink_batch(workspace_id,
							 PointerGetDatum(construct_array(roots + done, count,
															 TEXTOID, -1, false,
															 TYPALIGN_INT)));
			ereport(NOTICE,
					(errmsg("relink: " UINT64_FORMAT " of " UINT64_FORMAT " registrable domains done, " UINT64_FORMAT " links changed",
							done + count, root_count, links_changed)));
		}
		sp_execute(&unlinkable_plan, values, NULL, false, 0);
		links_changed += SPI_processed;
	}
	PG_CATCH();
	{
		relink_depth--;
		PG_RE_THROW();
	}
	PG_END_TRY();
	relink_depth--;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	sp_push_int64(&state, "registrableDomains", (int64) root_count);
	sp_push_int64(&state, "peopleWithNewRoots", (int64) roots_changed);
	sp_push_int64(&state, "linksChanged", (int64) links_changed);
	result = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
	result = sp_jsonb_for_caller(result);
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}

PG_FUNCTION_INFO_V1(sp_identity_history_append_only);

/*
 * Trigger: BEFORE UPDATE OR DELETE ON simpleproduct.identity_history.  The
 * history is append-only; rows go only with their workspace (a cascade) or
 * with an erased person (sp_erase_person).
 */
Datum
sp_identity_history_append_only(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("identity_history_append_only: not called by trigger manager")));

	/* An erase, or the cascade of a deleted workspace, may delete. */
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) &&
		(sp_history_erase_allowed || trigger_depth() > 1))
		return PointerGetDatum(trigdata->tg_trigtuple);

	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the identity history is append-only"),
			 errdetail("Rows of simpleproduct.identity_history cannot be updated or deleted.")));
	return PointerGetDatum(NULL);	/* keep compiler quiet */
}
