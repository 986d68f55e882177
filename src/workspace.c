/*
 * workspace.c
 *		The current workspace: the custom setting simpleproduct.workspace.
 *
 * Every row belongs to a workspace (a tenant).  The setting names the
 * workspace a session works in; unset or empty, it is the default workspace
 * made by CREATE EXTENSION, so a single-tenant backend never has to think
 * about tenancy.  Resolving the name costs a query, so the answer is cached
 * per backend; a trigger on the workspaces table sends a relcache
 * invalidation whenever a workspace is renamed or deleted, and every
 * backend drops its cached answer when that invalidation arrives.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

#include "simpleproduct.h"

/* The id CREATE EXTENSION gives the default workspace. */
#define SP_DEFAULT_WORKSPACE_ID 1

/* The setting simpleproduct.workspace. */
static char *workspace_setting = NULL;

/* Cache of the last resolved name. */
static bool cache_valid = false;
static char cache_name[NAMEDATALEN * 2];
static int64 cache_id;
static bool cache_rejects;

/*
 * Relcache callback: forget the cached workspace when the workspaces table
 * is invalidated (or when everything is).
 */
static void
workspace_cache_callback(Datum arg, Oid relid)
{
	cache_valid = false;
}

/*
 * Check hook of the setting: a workspace name is 1 to 63 characters.  The
 * name is looked up only when used, since a check hook may not read tables.
 */
static bool
workspace_check_hook(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && strlen(*newval) > 63)
	{
		GUC_check_errdetail("A workspace name is at most 63 bytes long.");
		return false;
	}
	return true;
}

/*
 * Define the setting and register the cache callback; called from
 * _PG_init.
 */
void
sp_workspace_init(void)
{
	DefineCustomStringVariable("simpleproduct.workspace",
							   "Name of the workspace (tenant) this session works in.",
							   "Empty means the default workspace.",
							   &workspace_setting,
							   "",
							   PGC_USERSET,
							   0,
							   workspace_check_hook,
							   NULL,
							   NULL);
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("simpleproduct");
#else
	EmitWarningsOnPlaceholders("simpleproduct");
#endif
	CacheRegisterRelcacheCallback(workspace_cache_callback, (Datum) 0);
}

/*
 * Look the workspace up by name and fill the cache.
 */
static void
workspace_lookup(const char *name)
{
	static SpPlan plan = {
		"SELECT id, conflict_policy OPERATOR(pg_catalog.=) 'reject'"
		" FROM simpleproduct.workspaces"
		" WHERE name OPERATOR(pg_catalog.=) $1",
		1, {TEXTOID}
	};
	Datum		values[1];
	bool		isnull;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = CStringGetTextDatum(name);
	sp_execute(&plan, values, NULL, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("workspace \"%s\" does not exist", name),
				 errhint("Set simpleproduct.workspace to an existing workspace, or reset it for the default one.")));
	cache_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1,
										   &isnull));
	cache_rejects = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 2,
											   &isnull));
	SPI_finish();

	strlcpy(cache_name, name, sizeof(cache_name));
	cache_valid = true;
}

/*
 * The id of the workspace this session works in.
 */
int64
sp_current_workspace(void)
{
	const char *name = workspace_setting;

	if (name == NULL || name[0] == '\0')
		name = "default";
	if (!cache_valid || strcmp(cache_name, name) != 0)
		workspace_lookup(name);
	return cache_id;
}

/*
 * Whether the workspace refuses identity conflicts ("reject") instead of
 * moving the email ("move").
 */
bool
sp_workspace_rejects_conflicts(int64 workspace_id)
{
	if (!cache_valid || cache_id != workspace_id)
		(void) sp_current_workspace();
	return cache_valid && cache_id == workspace_id && cache_rejects;
}

PG_FUNCTION_INFO_V1(sp_current_workspace_id);

/*
 * SQL: simpleproduct.current_workspace_id(), for table defaults and
 * row-level security policies.
 */
Datum
sp_current_workspace_id(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(sp_current_workspace());
}

PG_FUNCTION_INFO_V1(sp_workspaces_changed);

/*
 * Trigger on simpleproduct.workspaces: a renamed or deleted workspace, or a
 * changed conflict policy, invalidates every backend's cached answer.
 */
Datum
sp_workspaces_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("workspaces_changed: not called by trigger manager")));

	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
