/*
 * import.c
 *		Bulk import of people from a staged table: sp_import.
 *
 * A team loading its existing customers stages them in a table (or view)
 * with a column "line" (bigint, the order to apply them in) and a column
 * "person" (jsonb, or text holding JSON: one sp_identify argument per row),
 * then calls simpleproduct.sp_import on it.  The result is the one that
 * identifying the rows one by one, in line order, would give; bin/
 * simpleproduct-import does the staging from a CSV or NDJSON file.
 *
 * How, in four steps:
 *
 *	1. Parse and validate every row (in a subtransaction each, so a bad
 *	   row becomes an error row instead of aborting the load) into a
 *	   temporary work table, in batches of a few thousand rows.
 *	2. Classify the rows in SQL.  A row whose identifiers resolve to no
 *	   person is a plain create; a row that names exactly one existing
 *	   person and changes none of its identifiers is a plain update.  Any
 *	   row that shares an identifier or a person with another row of the
 *	   load, and every other case of the identity table (claim, email
 *	   change, email moved, merge), falls back to per-row resolution.
 *	3. Apply the plain creates and updates set-based: one INSERT (with its
 *	   "create" history rows) and one UPDATE.  They cannot interact with
 *	   each other nor with the fallback rows, since they share no
 *	   identifier and no person with any other row.
 *	4. Resolve the fallback rows one by one, in line order, with
 *	   sp_resolve_person, each in a subtransaction.
 *
 * Concurrency: the people table is locked in SHARE ROW EXCLUSIVE mode for
 * the rest of the transaction, so concurrent writers (sp_identify,
 * sp_feedback, plain DML) wait until the import commits, and the set-based
 * steps see a table nobody else changes.  XXX: a concurrent sp_identify
 * that took its identifier lock just before the import started waits for
 * the table lock while holding it; if a fallback row of the import needs
 * that same identifier, PostgreSQL's deadlock detector fails one of the
 * two.  Import while identify traffic on the same identifiers is quiet.
 *
 * Errors: data errors of a row (SQLSTATE classes 22 and 23, 42804, and the
 * identity conflict SP001 under the "reject" policy) are reported in that
 * row's result and the load goes on; anything else (out of memory or
 * locks, a cancel, a deadlock) aborts the whole call.  Every fallback row
 * holds its identifier locks until commit, so a load with very many
 * conflicting rows should be split (first_line, last_line; the wrapper
 * commits every few thousand rows).
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "simpleproduct.h"


/* Rows parsed (or resolved) before their results go to the work table. */
#define IMPORT_BATCH	5000

/* The parsed rows of one batch, ready for INSERT ... SELECT FROM unnest. */
typedef struct ImportBatch
{
	int			count;
	Datum		line[IMPORT_BATCH];
	Datum		person[IMPORT_BATCH];
	bool		person_null[IMPORT_BATCH];
	Datum		simple[IMPORT_BATCH];
	Datum		external_id[IMPORT_BATCH];
	bool		external_id_null[IMPORT_BATCH];
	Datum		email[IMPORT_BATCH];
	bool		email_null[IMPORT_BATCH];
	Datum		name_given[IMPORT_BATCH];
	Datum		name[IMPORT_BATCH];
	bool		name_null[IMPORT_BATCH];
	Datum		properties[IMPORT_BATCH];
	bool		properties_null[IMPORT_BATCH];
	Datum		person_id[IMPORT_BATCH];
	bool		person_id_null[IMPORT_BATCH];
	Datum		created[IMPORT_BATCH];
	bool		created_null[IMPORT_BATCH];
	Datum		error_code[IMPORT_BATCH];
	bool		error_code_null[IMPORT_BATCH];
	Datum		error_message[IMPORT_BATCH];
	bool		error_message_null[IMPORT_BATCH];
} ImportBatch;

/* What one row of the load gave, or the error it raised. */
typedef struct ImportRow
{
	int64		line;
	Jsonb	   *person;			/* the row as sp_identify takes it */
	bool		simple;			/* only externalId, email, name, properties */
	SpIdentity	identity;
	bool		failed;
	char	   *error_code;
	char	   *error_message;
} ImportRow;

/*
 * Whether a row's error is the row's own fault (bad data, or one of our own
 * SP errors: a conflict the workspace refuses, a suppressed identifier), so
 * that the load reports it and goes on.
 */
static bool
is_row_error(int sqlerrcode)
{
	if (ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_DATA_EXCEPTION ||
		ERRCODE_TO_CATEGORY(sqlerrcode) ==
		ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION)
		return true;
	return sqlerrcode == ERRCODE_DATATYPE_MISMATCH ||
		ERRCODE_TO_CATEGORY(sqlerrcode) ==
		ERRCODE_TO_CATEGORY(ERRCODE_SP_IDENTITY_CONFLICT);
}

/*
 * Run fn(arg) in a subtransaction.  A row error is caught: its SQLSTATE and
 * message land in *row, everything fn did is rolled back, and false is
 * returned.  Any other error is raised again.
 */
static bool
run_in_subtransaction(void (*fn) (void *), void *arg, ImportRow *row)
{
	MemoryContext caller_context = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;
	bool		ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller_context);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller_context);
		edata = CopyErrorData();
		if (!is_row_error(edata->sqlerrcode))
		{
			FreeErrorData(edata);
			PG_RE_THROW();
		}
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;

		row->failed = true;
		row->error_code = pstrdup(unpack_sql_state(edata->sqlerrcode));
		row->error_message = pstrdup(edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Whether a person object names nothing but externalId, email, name and
 * properties: the members the set-based steps apply.  Anything else
 * (setOnce, an explicit organization, members added later) is left to
 * per-row resolution, which knows every member.
 */
static bool
is_simple(Jsonb *input)
{
	JsonbIterator *it = JsonbIteratorInit(&input->root);
	JsonbValue	value;
	JsonbIteratorToken token;

	while ((token = JsonbIteratorNext(&it, &value, true)) != WJB_DONE)
	{
		const char *keys[] = {"externalId", "email", "name", "properties"};
		bool		known = false;
		int			k;

		if (token != WJB_KEY)
			continue;
		for (k = 0; k < lengthof(keys); k++)
			if (value.val.string.len == strlen(keys[k]) &&
				memcmp(value.val.string.val, keys[k],
					   value.val.string.len) == 0)
				known = true;
		if (!known)
			return false;
	}
	return true;
}

/* The argument of parse_row. */
typedef struct ParseArg
{
	Datum		person;
	bool		is_text;
	ImportRow  *row;
} ParseArg;

/*
 * Parse and validate one staged row as sp_identify would.
 */
static void
parse_row(void *arg)
{
	ParseArg   *parse = (ParseArg *) arg;
	Jsonb	   *input;

	if (parse->is_text)
	{
		char	   *json = TextDatumGetCString(parse->person);

		input = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												   CStringGetDatum(json)));
	}
	else
		input = DatumGetJsonbP(parse->person);

	sp_require_object(input, "the person");
	sp_parse_identity(input, &parse->row->identity);
	if (parse->row->identity.external_id == NULL &&
		parse->row->identity.email == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a person needs an externalId or an email")));
	parse->row->person = input;
	parse->row->simple = is_simple(input);
}

/*
 * Add a row to the batch: its parsed identity, or its error.
 */
static void
batch_add(ImportBatch *batch, const ImportRow *row)
{
	int			i = batch->count++;
	const SpIdentity *id = &row->identity;

	batch->line[i] = Int64GetDatum(row->line);
	batch->person[i] = row->failed ? (Datum) 0 : JsonbPGetDatum(row->person);
	batch->person_null[i] = row->failed;
	batch->simple[i] = BoolGetDatum(!row->failed && row->simple);
	batch->external_id[i] = id->external_id ?
		CStringGetTextDatum(id->external_id) : (Datum) 0;
	batch->external_id_null[i] = row->failed || id->external_id == NULL;
	batch->email[i] = id->email ? CStringGetTextDatum(id->email) : (Datum) 0;
	batch->email_null[i] = row->failed || id->email == NULL;
	batch->name_given[i] = BoolGetDatum(!row->failed && id->name_given);
	batch->name[i] = id->name ? CStringGetTextDatum(id->name) : (Datum) 0;
	batch->name_null[i] = row->failed || id->name == NULL;
	batch->properties[i] = id->properties ?
		JsonbPGetDatum(id->properties) : (Datum) 0;
	batch->properties_null[i] = row->failed || id->properties == NULL;
	batch->error_code[i] = row->failed ?
		CStringGetTextDatum(row->error_code) : (Datum) 0;
	batch->error_code_null[i] = !row->failed;
	batch->error_message[i] = row->failed ?
		CStringGetTextDatum(row->error_message) : (Datum) 0;
	batch->error_message_null[i] = !row->failed;
}

/*
 * A one-dimensional array of the first count values, with their nulls.
 */
static Datum
make_array(Datum *values, bool *nulls, int count, Oid element_type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1];
	int			lbs[1];

	get_typlenbyvalalign(element_type, &typlen, &typbyval, &typalign);
	dims[0] = count;
	lbs[0] = 1;
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
											  element_type, typlen,
											  typbyval, typalign));
}

/*
 * Write the parsed rows of a batch into the work table.
 */
static void
flush_parsed(ImportBatch *batch)
{
	static SpPlan plan = {
		"INSERT INTO pg_temp.sp_import_work (line, external_id, email,"
		" name_given, name, properties, error_code, error_message, person,"
		" simple, kind)"
		" SELECT l, x, e, g, n, p, c, m, j, s,"
		"  CASE WHEN c IS NULL THEN 'f' ELSE 'e' END"
		" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
		"  pg_catalog.unnest($3), pg_catalog.unnest($4),"
		"  pg_catalog.unnest($5), pg_catalog.unnest($6),"
		"  pg_catalog.unnest($7), pg_catalog.unnest($8),"
		"  pg_catalog.unnest($9), pg_catalog.unnest($10))"
		"  AS t (l, x, e, g, n, p, c, m, j, s)",
		10, {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, BOOLARRAYOID,
		TEXTARRAYOID, JSONBARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		JSONBARRAYOID, BOOLARRAYOID}
	};
	Datum		values[10];
	bool		no_nulls[IMPORT_BATCH];
	int			n = batch->count;

	if (n == 0)
		return;
	memset(no_nulls, 0, sizeof(bool) * n);
	values[0] = make_array(batch->line, no_nulls, n, INT8OID);
	values[1] = make_array(batch->external_id, batch->external_id_null, n,
						   TEXTOID);
	values[2] = make_array(batch->email, batch->email_null, n, TEXTOID);
	values[3] = make_array(batch->name_given, no_nulls, n, BOOLOID);
	values[4] = make_array(batch->name, batch->name_null, n, TEXTOID);
	values[5] = make_array(batch->properties, batch->properties_null, n,
						   JSONBOID);
	values[6] = make_array(batch->error_code, batch->error_code_null, n,
						   TEXTOID);
	values[7] = make_array(batch->error_message, batch->error_message_null,
						   n, TEXTOID);
	values[8] = make_array(batch->person, batch->person_null, n, JSONBOID);
	values[9] = make_array(batch->simple, no_nulls, n, BOOLOID);
	sp_execute(&plan, values, NULL, false, 0);
	batch->count = 0;
}

/*
 * Write the outcome of resolved fallback rows beside the work table (an
 * append, not an update, so that it costs the same whatever the plan).
 */
static void
flush_resolved(ImportBatch *batch)
{
	static SpPlan plan = {
		"INSERT INTO pg_temp.sp_import_resolved"
		" SELECT * FROM ROWS FROM (pg_catalog.unnest($1),"
		"  pg_catalog.unnest($2), pg_catalog.unnest($3),"
		"  pg_catalog.unnest($4), pg_catalog.unnest($5))",
		5, {INT8ARRAYOID, UUIDARRAYOID, BOOLARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID}
	};
	Datum		values[5];
	bool		no_nulls[IMPORT_BATCH];
	int			n = batch->count;

	if (n == 0)
		return;
	memset(no_nulls, 0, sizeof(bool) * n);
	values[0] = make_array(batch->line, no_nulls, n, INT8OID);
	values[1] = make_array(batch->person_id, batch->person_id_null, n,
						   UUIDOID);
	values[2] = make_array(batch->created, batch->created_null, n, BOOLOID);
	values[3] = make_array(batch->error_code, batch->error_code_null, n,
						   TEXTOID);
	values[4] = make_array(batch->error_message, batch->error_message_null,
						   n, TEXTOID);
	sp_execute(&plan, values, NULL, false, 0);
	batch->count = 0;
}

/*
 * Run one SQL statement of the import that has no parameters but the
 * workspace; returns the number of rows it processed.
 */
static uint64
run_step(SpPlan *plan, int64 workspace_id)
{
	Datum		values[1];

	values[0] = Int64GetDatum(workspace_id);
	sp_execute(plan, values, NULL, false, 0);
	return SPI_processed;
}

/*
 * Step 1: read the staged rows in line order and parse them into the work
 * table.  Returns the number of rows read.
 */
static int64
parse_staged(Oid staged, bool has_range, int64 first_line, int64 last_line,
			 int progress_every)
{
	StringInfoData sql;
	Portal		portal;
	Oid			person_type;
	ImportBatch *batch = palloc0(sizeof(ImportBatch));
	MemoryContext batch_context;
	MemoryContext outer_context = CurrentMemoryContext;
	int64		total = 0;
	Datum		range[2];
	Oid			range_types[2] = {INT8OID, INT8OID};
	char	   *schema = get_namespace_name(get_rel_namespace(staged));
	char	   *table = get_rel_name(staged);

	if (schema == NULL || table == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the staged table %u does not exist", staged)));
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT line, person FROM %s",
					 quote_qualified_identifier(schema, table));
	if (has_range)
		appendStringInfoString(&sql, " WHERE line OPERATOR(pg_catalog.>=) $1"
							   " AND line OPERATOR(pg_catalog.<=) $2");
	appendStringInfoString(&sql, " ORDER BY line");
	range[0] = Int64GetDatum(first_line);
	range[1] = Int64GetDatum(last_line);
	portal = SPI_cursor_open_with_args(NULL, sql.data, has_range ? 2 : 0,
									   range_types, range, NULL, true, 0);

	batch_context = AllocSetContextCreate(outer_context, "sp_import batch",
										  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		SPITupleTable *tuptable;
		uint64		fetched;
		uint64		i;

		SPI_cursor_fetch(portal, true, IMPORT_BATCH);
		fetched = SPI_processed;
		tuptable = SPI_tuptable;
		if (fetched == 0)
			break;
		if (SPI_gettypeid(tuptable->tupdesc, 1) != INT8OID &&
			SPI_gettypeid(tuptable->tupdesc, 1) != INT4OID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"line\" of the staged table must be bigint or integer")));
		person_type = SPI_gettypeid(tuptable->tupdesc, 2);
		if (person_type != JSONBOID && person_type != TEXTOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"person\" of the staged table must be jsonb or text")));

		MemoryContextSwitchTo(batch_context);
		for (i = 0; i < fetched; i++)
		{
			ImportRow	row;
			ParseArg	arg;
			bool		isnull;
			Datum		line_value;

			CHECK_FOR_INTERRUPTS();
			memset(&row, 0, sizeof(row));
			line_value = SPI_getbinval(tuptable->vals[i], tuptable->tupdesc,
									   1, &isnull);
			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("column \"line\" of the staged table must not be null")));
			row.line = SPI_gettypeid(tuptable->tupdesc, 1) == INT8OID ?
				DatumGetInt64(line_value) : DatumGetInt32(line_value);
			arg.person = SPI_getbinval(tuptable->vals[i], tuptable->tupdesc,
									   2, &isnull);
			arg.is_text = person_type == TEXTOID;
			arg.row = &row;
			if (isnull)
			{
				row.failed = true;
				row.error_code = "22004";
				row.error_message = "the person is null";
			}
			else
				(void) run_in_subtransaction(parse_row, &arg, &row);
			batch_add(batch, &row);
		}
		flush_parsed(batch);
		MemoryContextSwitchTo(outer_context);
		MemoryContextReset(batch_context);
		SPI_freetuptable(tuptable);

		total += fetched;
		if (progress_every > 0 &&
			total / progress_every != (total - fetched) / progress_every)
			ereport(NOTICE,
					(errmsg("sp_import: " INT64_FORMAT " rows read", total)));
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(batch_context);
	return total;
}

/*
 * Step 2: find each row's A (the person holding its externalId) and B (the
 * one holding its email), and mark the plain creates ('c') and plain
 * updates ('u'); the rest stays 'f' (fallback).
 */
static void
classify_rows(int64 workspace_id)
{
	static SpPlan resolve = {
		"UPDATE pg_temp.sp_import_work w SET"
		" a_id = (SELECT p.id FROM simpleproduct.people p"
		"  WHERE p.workspace_id" EQ "$1 AND p.external_id" EQ "w.external_id),"
		" b_id = (SELECT p.id FROM simpleproduct.people p"
		"  WHERE p.workspace_id" EQ "$1 AND p.email" EQ "w.email)"
		" WHERE w.kind" EQ "'f'",
		1, {INT8OID}
	};
	static SpPlan mark = {
		"UPDATE pg_temp.sp_import_work w SET"
		" kind = CASE WHEN w.a_id IS NULL AND w.b_id IS NULL THEN 'c'"
		"  ELSE 'u' END,"
		" person_id = CASE WHEN w.a_id IS NULL AND w.b_id IS NULL"
		"  THEN pg_catalog.gen_random_uuid() ELSE COALESCE(w.a_id, w.b_id) END,"
		" created = (w.a_id IS NULL AND w.b_id IS NULL)"
		" WHERE w.kind" EQ "'f' AND w.simple AND $1 IS NOT NULL"
		" AND ((w.a_id IS NULL AND w.b_id IS NULL)"
		"  OR (w.a_id IS NOT NULL AND (w.email IS NULL"
		"   OR w.b_id" EQ "w.a_id))"
		"  OR (w.external_id IS NULL AND w.b_id IS NOT NULL))",
		1, {INT8OID}
	};
	/* Identifiers named by more than one row of the load. */
	static SpPlan shared_external_id = {
		"UPDATE pg_temp.sp_import_work w SET kind = 'f', person_id = NULL,"
		" created = NULL"
		" FROM (SELECT external_id FROM pg_temp.sp_import_work"
		"  WHERE kind OPERATOR(pg_catalog.<>) 'e' AND $1 IS NOT NULL"
		"  GROUP BY external_id"
		"  HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1) d"
		" WHERE w.kind IN ('c', 'u') AND w.external_id" EQ "d.external_id",
		1, {INT8OID}
	};
	static SpPlan shared_email = {
		"UPDATE pg_temp.sp_import_work w SET kind = 'f', person_id = NULL,"
		" created = NULL"
		" FROM (SELECT email FROM pg_temp.sp_import_work"
		"  WHERE kind OPERATOR(pg_catalog.<>) 'e' AND $1 IS NOT NULL"
		"  GROUP BY email"
		"  HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1) d"
		" WHERE w.kind IN ('c', 'u') AND w.email" EQ "d.email",
		1, {INT8OID}
	};
	static SpPlan shared_person = {
		"WITH touched AS ("
		"  SELECT a_id AS id FROM pg_temp.sp_import_work"
		"   WHERE a_id IS NOT NULL AND $1 IS NOT NULL"
		"  UNION ALL SELECT b_id FROM pg_temp.sp_import_work"
		"   WHERE b_id IS NOT NULL AND b_id IS DISTINCT FROM a_id),"
		" busy AS (SELECT id FROM touched GROUP BY id"
		"  HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1)"
		" UPDATE pg_temp.sp_import_work w SET kind = 'f', person_id = NULL,"
		"  created = NULL"
		" FROM busy WHERE w.kind" EQ "'u' AND w.person_id" EQ "busy.id",
		1, {INT8OID}
	};

	/*
	 * A new person whose identifier belongs to an erased, suppressed person
	 * is refused; per-row resolution raises that error for the row.
	 */
	static SpPlan suppressed = {
		"UPDATE pg_temp.sp_import_work w SET kind = 'f', person_id = NULL,"
		" created = NULL"
		" FROM simpleproduct.workspaces ws"
		" WHERE w.kind" EQ "'c' AND ws.id" EQ "$1"
		" AND EXISTS (SELECT FROM simpleproduct.suppressed_identifiers s"
		"  WHERE s.workspace_id" EQ "$1"
		"  AND ((s.kind" EQ "'externalId' AND s.hash" EQ "pg_catalog.sha256("
		"    ws.salt OPERATOR(pg_catalog.||) pg_catalog.convert_to("
		"    'externalId:' OPERATOR(pg_catalog.||) w.external_id, 'UTF8')))"
		"   OR (s.kind" EQ "'email' AND s.hash" EQ "pg_catalog.sha256("
		"    ws.salt OPERATOR(pg_catalog.||) pg_catalog.convert_to("
		"    'email:' OPERATOR(pg_catalog.||) w.email, 'UTF8')))))",
		1, {INT8OID}
	};

	static SpPlan analyze_marked = {
		"ANALYZE pg_temp.sp_import_work (kind, person_id)",
		0, {InvalidOid}
	};

	run_step(&resolve, workspace_id);
	run_step(&mark, workspace_id);
	/* The planner must know how many rows are now 'c' and 'u'. */
	sp_execute(&analyze_marked, NULL, NULL, false, 0);
	run_step(&shared_external_id, workspace_id);
	run_step(&shared_email, workspace_id);
	run_step(&shared_person, workspace_id);
	run_step(&suppressed, workspace_id);
}

/*
 * Step 3: the plain creates and updates, set-based.  Returns the number of
 * people created and updated through *created and *updated.
 */
static void
apply_plain_rows(int64 workspace_id, uint64 *created, uint64 *updated)
{
	static SpPlan create = {
		"WITH made AS ("
		" INSERT INTO simpleproduct.people (workspace_id, id, external_id,"
		"  email, name, properties, last_seen_at)"
		" SELECT $1, w.person_id, w.external_id, w.email, w.name,"
		"  COALESCE(simpleproduct.merge_patch('{}', w.properties), '{}'),"
		"  pg_catalog.now()"
		" FROM pg_temp.sp_import_work w WHERE w.kind" EQ "'c'"
		" ORDER BY w.line"
		" RETURNING id, external_id, email)"
		" INSERT INTO simpleproduct.identity_history (workspace_id,"
		"  person_id, event, after)"
		" SELECT $1, id, 'create', pg_catalog.jsonb_build_object('id', id,"
		"  'externalId', external_id, 'email', email) FROM made",
		1, {INT8OID}
	};

	/*
	 * As write_person in identify.c: a row that changes nothing for a
	 * person seen within the hour writes nothing; otherwise lastSeenAt moves
	 * forward to the transaction's start.
	 */
	static SpPlan update = {
		"UPDATE simpleproduct.people p SET"
		" name = CASE WHEN w.name_given THEN w.name ELSE p.name END,"
		" properties = CASE WHEN w.properties IS NULL THEN p.properties"
		"  ELSE simpleproduct.merge_patch(p.properties, w.properties) END,"
		" last_seen_at = CASE WHEN p.last_seen_at IS NULL"
		"  OR p.last_seen_at OPERATOR(pg_catalog.<) pg_catalog.now()"
		"  THEN pg_catalog.now() ELSE p.last_seen_at END"
		" FROM pg_temp.sp_import_work w"
		" WHERE w.kind" EQ "'u' AND p.workspace_id" EQ "$1"
		" AND p.id" EQ "w.person_id"
		" AND (p.last_seen_at IS NULL"
		"  OR p.last_seen_at OPERATOR(pg_catalog.<=) (pg_catalog.now()"
		"   OPERATOR(pg_catalog.-) interval '1 hour')"
		"  OR (w.name_given AND p.name IS DISTINCT FROM w.name)"
		"  OR (w.properties IS NOT NULL"
		"   AND simpleproduct.merge_patch(p.properties, w.properties)"
		"    OPERATOR(pg_catalog.<>) p.properties))",
		1, {INT8OID}
	};

	*created = run_step(&create, workspace_id);
	*updated = run_step(&update, workspace_id);
}

/* The argument of resolve_row. */
typedef struct ResolveArg
{
	int64		workspace_id;
	ImportRow  *row;
	SpPerson	person;
	bool		created;
} ResolveArg;

/*
 * Resolve one fallback row by the identify rules (parsing it again with
 * every member sp_identify knows), in an SPI connection of its own so that
 * what its queries leave behind goes with it.
 */
static void
resolve_row(void *arg)
{
	ResolveArg *resolve = (ResolveArg *) arg;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	sp_parse_identity(resolve->row->person, &resolve->row->identity);
	(void) sp_resolve_person(resolve->workspace_id, &resolve->row->identity,
							 &resolve->person, &resolve->created);
	SPI_finish();
}

/*
 * Step 4: the fallback rows, one by one in line order.  Returns how many
 * there were.
 */
static int64
resolve_fallback_rows(int64 workspace_id, int progress_every)
{
	static SpPlan fetch = {
		"SELECT line, person FROM pg_temp.sp_import_work"
		" WHERE kind" EQ "'f' AND line OPERATOR(pg_catalog.>) $1"
		" ORDER BY line LIMIT 5000",
		1, {INT8OID}
	};
	ImportBatch *batch = palloc0(sizeof(ImportBatch));
	MemoryContext outer_context = CurrentMemoryContext;
	MemoryContext batch_context;
	int64		after_line = PG_INT64_MIN;
	int64		total = 0;

	batch_context = AllocSetContextCreate(outer_context, "sp_import rows",
										  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		Datum		values[1];
		ImportRow  *rows;
		uint64		count;
		uint64		i;

		/* Copy the next rows out of SPI: resolving them runs queries. */
		values[0] = Int64GetDatum(after_line);
		sp_execute(&fetch, values, NULL, false, 0);
		count = SPI_processed;
		if (count == 0)
			break;
		MemoryContextSwitchTo(batch_context);
		rows = palloc0(sizeof(ImportRow) * count);
		for (i = 0; i < count; i++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;

			rows[i].line = DatumGetInt64(SPI_getbinval(tuple, desc, 1,
													   &isnull));
			rows[i].person = DatumGetJsonbPCopy(SPI_getbinval(tuple, desc, 2,
															  &isnull));
		}
		SPI_freetuptable(SPI_tuptable);

		for (i = 0; i < count; i++)
		{
			ResolveArg	arg;
			int			n;

			CHECK_FOR_INTERRUPTS();
			arg.workspace_id = workspace_id;
			arg.row = &rows[i];
			arg.created = false;
			run_in_subtransaction(resolve_row, &arg, &rows[i]);

			n = batch->count++;
			batch->line[n] = Int64GetDatum(rows[i].line);
			batch->person_id_null[n] = rows[i].failed;
			if (!rows[i].failed)
			{
				pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

				memcpy(id, &arg.person.id, sizeof(pg_uuid_t));
				batch->person_id[n] = UUIDPGetDatum(id);
			}
			batch->created[n] = BoolGetDatum(arg.created);
			batch->created_null[n] = rows[i].failed;
			batch->error_code[n] = rows[i].failed ?
				CStringGetTextDatum(rows[i].error_code) : (Datum) 0;
			batch->error_code_null[n] = !rows[i].failed;
			batch->error_message[n] = rows[i].failed ?
				CStringGetTextDatum(rows[i].error_message) : (Datum) 0;
			batch->error_message_null[n] = !rows[i].failed;
		}
		after_line = rows[count - 1].line;
		flush_resolved(batch);
		MemoryContextSwitchTo(outer_context);
		MemoryContextReset(batch_context);

		total += count;
		if (progress_every > 0 &&
			total / progress_every != (total - count) / progress_every)
			ereport(NOTICE,
					(errmsg("sp_import: " INT64_FORMAT " conflicting rows resolved one by one",
							total)));
	}
	MemoryContextDelete(batch_context);
	return total;
}

PG_FUNCTION_INFO_V1(sp_import);

/*
 * SQL: simpleproduct.sp_import(staged regclass, progress_every integer,
 * first_line bigint, last_line bigint).  Imports the staged people (all
 * rows, or those with first_line <= line <= last_line) and returns one row
 * per staged row: line, person_id, created, error_code, error_message.
 */
Datum
sp_import(PG_FUNCTION_ARGS)
{
	static SpPlan lock_people = {
		"LOCK TABLE simpleproduct.people IN SHARE ROW EXCLUSIVE MODE",
		0, {InvalidOid}
	};
	static SpPlan drop_work = {
		"DROP TABLE pg_temp.sp_import_work, pg_temp.sp_import_resolved",
		0, {InvalidOid}
	};
	static SpPlan create_work = {
		"CREATE TEMPORARY TABLE sp_import_work ("
		" line bigint PRIMARY KEY, person jsonb, simple boolean,"
		" external_id text, email text, name_given boolean, name text,"
		" properties jsonb,"
		" kind \"char\" NOT NULL, a_id uuid, b_id uuid,"
		" person_id uuid, created boolean, error_code text,"
		" error_message text) ON COMMIT DROP",
		0, {InvalidOid}
	};
	static SpPlan create_resolved = {
		"CREATE TEMPORARY TABLE sp_import_resolved ("
		" line bigint, person_id uuid, created boolean, error_code text,"
		" error_message text) ON COMMIT DROP",
		0, {InvalidOid}
	};
	static SpPlan analyze_work = {
		"ANALYZE pg_temp.sp_import_work (line, kind)",
		0, {InvalidOid}
	};
	/* How many rows each step will touch, so that the joins are planned
	 * for it (a nested loop over many rows would be ruinous). */
	static SpPlan analyze_classified = {
		"ANALYZE pg_temp.sp_import_work (kind, person_id)",
		0, {InvalidOid}
	};
	static SpPlan results = {
		"SELECT w.line, COALESCE(r.person_id, w.person_id),"
		" COALESCE(r.created, w.created),"
		" COALESCE(r.error_code, w.error_code),"
		" COALESCE(r.error_message, w.error_message)"
		" FROM pg_temp.sp_import_work w"
		" LEFT JOIN pg_temp.sp_import_resolved r"
		"  ON r.line" EQ "w.line"
		" ORDER BY w.line",
		0, {InvalidOid}
	};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			staged = PG_GETARG_OID(0);
	int			progress_every = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);
	bool		has_range = !PG_ARGISNULL(2) || !PG_ARGISNULL(3);
	int64		first_line = PG_ARGISNULL(2) ? PG_INT64_MIN : PG_GETARG_INT64(2);
	int64		last_line = PG_ARGISNULL(3) ? PG_INT64_MAX : PG_GETARG_INT64(3);
	int64		workspace_id;
	int64		total;
	int64		fallback;
	uint64		created;
	uint64		updated;
	uint64		i;
	MemoryContext per_query;
	MemoryContext oldcontext;
	Tuplestorestate *store;
	TupleDesc	desc;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the staged table must not be null")));
	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("sp_import must be called in the FROM clause")));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "sp_import: return type must be a row type");

	workspace_id = sp_current_workspace();
	per_query = rsinfo->econtext->ecxt_per_query_memory;
	oldcontext = MemoryContextSwitchTo(per_query);
	desc = CreateTupleDescCopy(desc);
	store = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(oldcontext);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	sp_execute(&lock_people, NULL, NULL, false, 0);
	sp_execute(&create_work, NULL, NULL, false, 0);
	sp_execute(&create_resolved, NULL, NULL, false, 0);

	total = parse_staged(staged, has_range, first_line, last_line,
						 progress_every);
	sp_execute(&analyze_work, NULL, NULL, false, 0);
	classify_rows(workspace_id);
	sp_execute(&analyze_classified, NULL, NULL, false, 0);
	apply_plain_rows(workspace_id, &created, &updated);
	if (progress_every > 0)
		ereport(NOTICE,
				(errmsg("sp_import: " INT64_FORMAT " rows: " UINT64_FORMAT " people created and " UINT64_FORMAT " updated set-based",
						total, created, updated)));
	fallback = resolve_fallback_rows(workspace_id, progress_every);
	if (progress_every > 0)
		ereport(NOTICE,
				(errmsg("sp_import: done, " INT64_FORMAT " rows resolved one by one",
						fallback)));

	sp_execute(&results, NULL, NULL, false, 0);
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		values[5];
		bool		nulls[5];
		int			column;

		for (column = 0; column < 5; column++)
			values[column] = SPI_getbinval(SPI_tuptable->vals[i],
										   SPI_tuptable->tupdesc,
										   column + 1, &nulls[column]);
		oldcontext = MemoryContextSwitchTo(per_query);
		tuplestore_putvalues(store, desc, values, nulls);
		MemoryContextSwitchTo(oldcontext);
	}
	sp_execute(&drop_work, NULL, NULL, false, 0);
	SPI_finish();

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = desc;
	return (Datum) 0;
}
