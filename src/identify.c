/*
 * identify.c
 *		Identity resolution and sp_identify.
 *
 * A caller identifies a person by externalId, then email.  Let A be the
 * person holding the given externalId and B the one holding the given
 * email; SPEC.md's identity table says what happens for each state of A
 * and B: update, create, claim, email change, email moved, or merge.
 *
 * Concurrency, in the order the locks are taken:
 *	1. the workspace's linking lock, shared (exclusive for an explicit
 *	   organization that may be created), so that a person is never linked
 *	   while an organization domain is being written;
 *	2. a transaction-level advisory lock on each identifier given (keyed by
 *	   a hash of workspace and identifier), in ascending key order.  Under
 *	   READ COMMITTED each lookup then sees everything the previous holder
 *	   committed, so two calls for one new identifier create one person;
 *	3. the rows: a call changing no identifier is one UPDATE (or a lookup)
 *	   on its person; otherwise A and B are locked FOR UPDATE, in uuid
 *	   order, before their values are read, so no update is lost.  A call
 *	   locking two people retries in a subtransaction if it is chosen as a
 *	   deadlock victim.
 * Identifier locks of a call that created nobody and changed no identifier
 * are given back at once; the others are held until commit.
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/resowner.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#if PG_VERSION_NUM >= 130000
#include "common/hashfn.h"
#else
#include "access/hash.h"
#endif

#include "simpleproduct.h"

/* field4 of our advisory lock tags, apart from pg_advisory_lock's 1 and 2 */
#define SP_LOCK_TAG_KIND	0x5350

/* how often a call that locks two people is tried when deadlocked */
#define SP_DEADLOCK_RETRIES	5

/* lastSeenAt alone is written at most this often per person */
#define SP_LAST_SEEN_INTERVAL	(USECS_PER_HOUR)

/*
 * The 64-bit lock key of one identifier in one workspace.
 */
static uint64
identifier_lock_key(int64 workspace_id, char kind, const char *identifier)
{
	uint64		seed = ((uint64) workspace_id << 8) | (unsigned char) kind;

	return DatumGetUInt64(hash_any_extended((const unsigned char *) identifier,
											strlen(identifier), seed));
}

/*
 * Take the transaction-level lock of one key, in ExclusiveLock or
 * ShareLock mode.
 */
static void
lock_key(uint64 key, LOCKMODE mode)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (key >> 32),
						 (uint32) key, SP_LOCK_TAG_KIND);
	(void) LockAcquire(&tag, mode, false, false);
}

/*
 * Give back one lock taken by lock_key in this call.  Transaction-level
 * locks are counted: one taken again in this transaction stays held.
 */
static void
unlock_key(uint64 key, LOCKMODE mode)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (key >> 32),
						 (uint32) key, SP_LOCK_TAG_KIND);
	(void) LockRelease(&tag, mode, false);
}

/*
 * Lock a workspace's domain linking: shared by whoever links a person,
 * exclusive for whoever adds or removes an organization domain.  Linking a
 * person and picking people up for a new organization thus never miss each
 * other's uncommitted rows.  One lock per workspace, so that a transaction
 * linking a million people (a COPY) holds one lock, not a million.
 */
void
sp_lock_workspace_linking(int64 workspace_id, bool exclusive)
{
	lock_key(identifier_lock_key(workspace_id, 'l', "linking"),
			 exclusive ? ExclusiveLock : ShareLock);
}

/*
 * Lock one identifier on its own (kind 'd' for an organization's domain).
 */
void
sp_lock_identifier(int64 workspace_id, char kind, const char *identifier)
{
	lock_key(identifier_lock_key(workspace_id, kind, identifier),
			 ExclusiveLock);
}

/*
 * The lock keys of a person's identifiers (either may be NULL), distinct
 * and in ascending order; returns how many.
 */
static int
identifier_keys(int64 workspace_id, const char *external_id,
				const char *email, uint64 *keys)
{
	int			count = 0;

	if (external_id != NULL)
		keys[count++] = identifier_lock_key(workspace_id, 'x', external_id);
	if (email != NULL)
		keys[count++] = identifier_lock_key(workspace_id, 'e', email);
	if (count == 2 && keys[0] > keys[1])
	{
		uint64		swap = keys[0];

		keys[0] = keys[1];
		keys[1] = swap;
	}
	if (count == 2 && keys[0] == keys[1])
		count = 1;
	return count;
}

/*
 * Lock a person's identifiers (either may be NULL), in ascending key
 * order, before any row of theirs is locked.
 */
void
sp_lock_person_identifiers(int64 workspace_id, const char *external_id,
						   const char *email)
{
	uint64		keys[2];
	int			count = identifier_keys(workspace_id, external_id, email,
										keys);
	int			i;

	for (i = 0; i < count; i++)
		lock_key(keys[i], ExclusiveLock);
}

/*
 * Give back the identifier locks of a call that created no person and
 * changed no identifier: the rows it locked protect it from then on, and a
 * transaction making many such calls must not pile up locks until commit.
 */
static void
unlock_person_identifiers(int64 workspace_id, const char *external_id,
						  const char *email)
{
	uint64		keys[2];
	int			count = identifier_keys(workspace_id, external_id, email,
										keys);
	int			i;

	for (i = 0; i < count; i++)
		unlock_key(keys[i], ExclusiveLock);
}

/*
 * Read an explicit organization: {"id": ...} or {"domain": ..., "name": ...},
 * or null to hand the person back to automatic linking.
 */
static void
parse_organization(Jsonb *input, SpIdentity *identity)
{
	JsonbValue *value = sp_json_get(input, "organization");
	Jsonb	   *organization;
	bool		present;
	char	   *id;
	char	   *domain;

	if (value == NULL)
		return;
	identity->organization_given = true;
	if (value->type == jbvNull)
		return;
	organization = sp_json_object(input, "organization", &present);

	id = sp_json_string(organization, "id", &present);
	domain = sp_json_string(organization, "domain", &present);
	identity->organization_name = sp_json_string(organization, "name",
												 &present);
	if ((id == NULL) == (domain == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"organization\" takes exactly one of \"id\" or \"domain\""),
				 errhint("Pass {\"organization\": {\"domain\": \"acme.com\"}}, or null for automatic linking.")));
	if (id != NULL)
	{
		if (!sp_parse_uuid(id, &identity->organization_id))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid organization id: \"%s\"", id)));
		identity->organization_by_id = true;
	}
	else
		identity->organization_domain = sp_organization_domain(domain);
}

/*
 * Read and validate what a caller gave to identify a person.  Wrong JSON
 * types raise 42804; invalid values raise 22023 or 22001.
 */
void
sp_parse_identity(Jsonb *input, SpIdentity *identity)
{
	bool		present;
	char	   *email;
	JsonbValue *name;

	memset(identity, 0, sizeof(SpIdentity));
	identity->external_id = sp_json_external_id(input, &present);

	email = sp_json_string(input, "email", &present);
	if (email != NULL)
		identity->email = sp_normalize_email(email, true, NULL);

	name = sp_json_get(input, "name");
	if (name != NULL)
	{
		identity->name_given = true;
		if (name->type == jbvString)
			identity->name = pnstrdup(name->val.string.val,
									  name->val.string.len);
		else if (name->type != jbvNull)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("\"name\" must be a string or null")));
	}

	identity->properties = sp_json_object(input, "properties", &present);
	identity->set_once = sp_json_object(input, "setOnce", &present);
	parse_organization(input, identity);
}

/*
 * Write *next over the person *current, unless it changes nothing and the
 * person was seen within the last hour: then nothing is written at all.
 * *result receives the person as stored.
 */
static void
write_person(int64 workspace_id, const SpPerson *current, SpPerson *next,
			 SpPerson *result)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	bool		changed;

	changed = sp_strings_differ(current->external_id, next->external_id) ||
		sp_strings_differ(current->email, next->email) ||
		sp_strings_differ(current->name, next->name) ||
		current->has_organization != next->has_organization ||
		(next->has_organization &&
		 memcmp(&current->organization_id, &next->organization_id,
				sizeof(pg_uuid_t)) != 0) ||
		sp_jsonb_differ(current->properties, next->properties);

	if (!changed && current->has_last_seen &&
		current->last_seen_at > now - SP_LAST_SEEN_INTERVAL)
	{
		*result = *current;
		return;
	}

	next->has_last_seen = true;
	if (!current->has_last_seen || current->last_seen_at < now)
		next->last_seen_at = now;
	sp_person_update(workspace_id, next, result);
}

/*
 * Apply the caller's name, properties, setOnce properties and explicit
 * organization to a person's values.
 */
static void
apply_identity(int64 workspace_id, const SpIdentity *identity,
			   SpPerson *person)
{
	if (identity->name_given)
		person->name = identity->name;
	if (identity->properties != NULL)
		person->properties = sp_merge_patch(person->properties,
											identity->properties);
	if (identity->set_once != NULL)
		person->properties =
			sp_fill_missing(person->properties,
							sp_merge_patch(NULL, identity->set_once));
	if (identity->organization_given)
		sp_organization_for_link(workspace_id, identity, person);
}

/*
 * Refuse an email move when the workspace's policy is "reject".
 */
static void
check_conflict_policy(int64 workspace_id, const SpPerson *holder,
					  const SpIdentity *identity, const pg_uuid_t *receiver)
{
	char	   *holder_id;
	char	   *receiver_id;

	if (!sp_workspace_rejects_conflicts(workspace_id))
		return;

	holder_id = sp_uuid_text(&holder->id);
	receiver_id = receiver ? sp_uuid_text(receiver) : "a new person";
	ereport(ERROR,
			(errcode(ERRCODE_SP_IDENTITY_CONFLICT),
			 errmsg("email \"%s\" belongs to person %s, who has externalId \"%s\"; it would move to %s with externalId \"%s\"",
					identity->email, holder_id, holder->external_id,
					receiver_id, identity->external_id),
			 errdetail("The workspace's conflict policy is \"reject\"."),
			 errhint("Identify with the externalId alone, or set the workspace's conflict_policy to \"move\".")));
}

/*
 * Take the email away from the person holding it (it moves elsewhere).
 */
static void
release_email(int64 workspace_id, const SpPerson *holder, SpPerson *after)
{
	SpPerson	next = *holder;

	next.email = NULL;
	sp_person_update(workspace_id, &next, after);
}

/*
 * Push the first column of the current SPI result as an array of strings.
 */
static void
push_first_column(JsonbParseState **state)
{
	uint64		i;

	pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < SPI_processed; i++)
	{
		JsonbValue	value;

		value.type = jbvString;
		value.val.string.val = SPI_getvalue(SPI_tuptable->vals[i],
											SPI_tuptable->tupdesc, 1);
		value.val.string.len = strlen(value.val.string.val);
		pushJsonbValue(state, WJB_ELEM, &value);
	}
	pushJsonbValue(state, WJB_END_ARRAY, NULL);
}

/*
 * Merge B into A: B's feedback and aliases move to A, A's values win and
 * A's empty fields are filled from B, B is deleted and its id answers as
 * A from then on.  The history keeps both people whole, and the moved
 * feedback, so that the merge can be undone.
 */
static void
merge_people(int64 workspace_id, const SpIdentity *identity,
			 const SpPerson *a, const SpPerson *b, SpPerson *result)
{
	static SpPlan move_feedback = {
		"UPDATE simpleproduct.feedback SET person_id = $3"
		" WHERE workspace_id OPERATOR(pg_catalog.=) $1"
		" AND person_id OPERATOR(pg_catalog.=) $2 RETURNING id",
		3, {INT8OID, UUIDOID, UUIDOID}
	};
	static SpPlan move_aliases = {
		"UPDATE simpleproduct.person_aliases SET person_id = $3"
		" WHERE workspace_id OPERATOR(pg_catalog.=) $1"
		" AND person_id OPERATOR(pg_catalog.=) $2 RETURNING alias_id",
		3, {INT8OID, UUIDOID, UUIDOID}
	};
	static SpPlan add_alias = {
		"INSERT INTO simpleproduct.person_aliases"
		" (workspace_id, alias_id, person_id) VALUES ($1, $2, $3)",
		3, {INT8OID, UUIDOID, UUIDOID}
	};
	Datum		values[3];
	SpPerson	next = *a;
	JsonbParseState *state = NULL;
	JsonbValue *before;

	values[0] = Int64GetDatum(workspace_id);
	values[1] = UUIDPGetDatum(&b->id);
	values[2] = UUIDPGetDatum(&a->id);

	/* What moves (feedback, aliases) is remembered for an undo. */
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	sp_push_jsonb(&state, "person", sp_person_identifiers(a, true));
	sp_push_jsonb(&state, "merged", sp_person_identifiers(b, true));
	sp_execute(&move_feedback, values, NULL, false, 0);
	sp_push_key(&state, "feedback");
	push_first_column(&state);
	sp_execute(&move_aliases, values, NULL, false, 0);
	sp_push_key(&state, "aliases");
	push_first_column(&state);
	before = pushJsonbValue(&state, WJB_END_OBJECT, NULL);

	sp_person_delete(workspace_id, &b->id);
	sp_execute(&add_alias, values, NULL, false, 0);

	next.email = identity->email;
	if (next.name == NULL)
		next.name = b->name;
	next.properties = sp_fill_missing(a->properties, b->properties);
	if (!a->organization_explicit && b->organization_explicit)
	{
		next.has_organization = b->has_organization;
		next.organization_id = b->organization_id;
		next.organization_explicit = true;
	}
	apply_identity(workspace_id, identity, &next);
	next.has_last_seen = true;
	next.last_seen_at = GetCurrentTransactionStartTimestamp();
	sp_person_update(workspace_id, &next, result);

	sp_history_append(workspace_id, &a->id, "merge", &b->id,
					  JsonbValueToJsonb(before),
					  sp_person_identifiers(result, true));
}

/*
 * Record an identity change whose before and after are two states of one
 * person's identifiers.
 */
static void
record_change(int64 workspace_id, const char *event, const SpPerson *before,
			  const SpPerson *after, const pg_uuid_t *other)
{
	sp_history_append(workspace_id, &after->id, event, other,
					  before ? sp_person_identifiers(before, false) : NULL,
					  sp_person_identifiers(after, false));
}

/*
 * Create a person from what the caller gave.
 */
static void
create_person(int64 workspace_id, const SpIdentity *identity,
			  SpPerson *result)
{
	SpPerson	values;

	if (identity->external_id != NULL)
		sp_check_not_suppressed(workspace_id, "externalId",
								identity->external_id);
	if (identity->email != NULL)
		sp_check_not_suppressed(workspace_id, "email", identity->email);

	memset(&values, 0, sizeof(values));
	values.external_id = identity->external_id;
	values.email = identity->email;
	values.properties = sp_empty_object();
	apply_identity(workspace_id, identity, &values);
	values.has_last_seen = true;
	values.last_seen_at = GetCurrentTransactionStartTimestamp();
	sp_person_insert(workspace_id, &values, result);
	record_change(workspace_id, "create", NULL, result, NULL);
}

/*
 * Lock the rows of A and B and apply the call, following SPEC.md's
 * identity table.  The caller holds the identifiers' locks.
 */
static void
resolve_locked(int64 workspace_id, const SpIdentity *identity, bool b_first,
			   SpPerson *person, bool *created)
{
	SpPerson	a;
	SpPerson	b;
	bool		have_a = false;
	bool		have_b = false;
	SpPerson	next;

	/*
	 * Lock the rows of A and B in uuid order (b_first says which comes
	 * first), so that two calls reaching the same two people through
	 * different identifiers do not deadlock.  The locking lookups re-check
	 * their condition on the row version they lock.
	 */
	if (b_first)
	{
		have_b = sp_person_by_email(workspace_id, identity->email, true, &b);
		have_a = sp_person_by_external_id(workspace_id,
										  identity->external_id, true, &a);
	}
	else
	{
		if (identity->external_id != NULL)
			have_a = sp_person_by_external_id(workspace_id,
											  identity->external_id, true,
											  &a);
		if (identity->email != NULL)
			have_b = sp_person_by_email(workspace_id, identity->email, true,
										&b);
	}

	if (have_a && have_b &&
		memcmp(&a.id, &b.id, sizeof(pg_uuid_t)) != 0)
	{
		if (b.external_id == NULL)
		{
			merge_people(workspace_id, identity, &a, &b, person);
			return;
		}

		/* B has another externalId: the email moves from B to A. */
		check_conflict_policy(workspace_id, &b, identity, &a.id);
		release_email(workspace_id, &b, &next);
		record_change(workspace_id, "email_moved", &b, &next, &a.id);
		have_b = false;
	}

	if (have_a)
	{
		/* Update A; a new email replaces the old one (kept in history). */
		next = a;
		if (identity->email != NULL && !have_b &&
			sp_strings_differ(a.email, identity->email))
			sp_check_not_suppressed(workspace_id, "email", identity->email);
		if (identity->email != NULL)
			next.email = identity->email;
		apply_identity(workspace_id, identity, &next);
		write_person(workspace_id, &a, &next, person);
		if (sp_strings_differ(a.email, person->email))
			record_change(workspace_id, "email_change", &a, person, NULL);
		return;
	}

	if (have_b && identity->external_id != NULL && b.external_id != NULL)
	{
		/* B has another externalId: a new person takes the email. */
		check_conflict_policy(workspace_id, &b, identity, NULL);
		release_email(workspace_id, &b, &next);
		create_person(workspace_id, identity, person);
		record_change(workspace_id, "email_moved", &b, &next, &person->id);
		*created = true;
		return;
	}

	if (have_b)
	{
		/* Update B, which claims the externalId if one was given. */
		next = b;
		if (identity->external_id != NULL)
		{
			sp_check_not_suppressed(workspace_id, "externalId",
									identity->external_id);
			next.external_id = identity->external_id;
		}
		apply_identity(workspace_id, identity, &next);
		write_person(workspace_id, &b, &next, person);
		if (b.external_id == NULL && person->external_id != NULL)
			record_change(workspace_id, "claim", &b, person, NULL);
		return;
	}

	create_person(workspace_id, identity, person);
	*created = true;
}

/*
 * resolve_locked inside a subtransaction, retried when it is chosen as the
 * victim of a deadlock.  A call that locks two people can deadlock with a
 * transaction that already holds one of them from an earlier statement;
 * rolling the subtransaction back releases this call's row locks, so the
 * other transaction goes on, and the retry then waits for it normally.
 */
static void
resolve_locked_retrying(int64 workspace_id, const SpIdentity *identity,
						bool b_first, SpPerson *person, bool *created)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile int attempt;

	for (attempt = 1;; attempt++)
	{
		volatile bool deadlocked = false;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(context);
		PG_TRY();
		{
			/*
			 * A retry takes the two rows in the other order: taking the same
			 * first row straight back could win it again before the other
			 * transaction, woken by our rollback, gets it.
			 */
			resolve_locked(workspace_id, identity,
						   attempt % 2 == 1 ? b_first : !b_first,
						   person, created);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(context);
			CurrentResourceOwner = owner;
		}
		PG_CATCH();
		{
			ErrorData  *error;

			MemoryContextSwitchTo(context);
			error = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(context);
			CurrentResourceOwner = owner;
			if (error->sqlerrcode != ERRCODE_T_R_DEADLOCK_DETECTED ||
				attempt >= SP_DEADLOCK_RETRIES)
				ReThrowError(error);
			FreeErrorData(error);
			deadlocked = true;
		}
		PG_END_TRY();

		/* Decided outside PG_TRY, whose do-while a continue would leave. */
		if (!deadlocked)
			return;
		ereport(DEBUG1,
				(errmsg("identify: retrying after a deadlock (attempt %d)",
						attempt)));
	}
}

/*
 * The write of the fast path: the person's name and properties, and
 * lastSeenAt, in one statement keyed by the call's identifiers, and only
 * when something changes or lastSeenAt is an hour old ($7).
 */
#define FAST_UPDATE(condition) \
	"UPDATE simpleproduct.people SET" \
	" name = CASE WHEN $3 THEN $4 ELSE name END," \
	" properties = CASE WHEN $5 IS NULL THEN properties" \
	"  ELSE simpleproduct.merge_patch(properties, $5) END," \
	" last_seen_at = $6" \
	" WHERE workspace_id OPERATOR(pg_catalog.=) $1 AND " condition \
	" AND (last_seen_at IS NULL OR last_seen_at OPERATOR(pg_catalog.<) $7" \
	"  OR ($3 AND (name IS NULL) OPERATOR(pg_catalog.<>) ($4 IS NULL))" \
	"  OR ($3 AND name OPERATOR(pg_catalog.<>) $4)" \
	"  OR ($5 IS NOT NULL AND simpleproduct.merge_patch(properties, $5)" \
	"      OPERATOR(pg_catalog.<>) properties))" \
	" RETURNING " SP_PERSON_COLUMNS

/*
 * The fast path of a call that changes no identifier of an existing person
 * (the common identify on login, and feedback from a known person): one
 * statement, and the identifier locks given back at once.  A call with nothing to write is a plain
 * lookup; one with a name or properties is one UPDATE that writes only when
 * something changes.  Returns false when the call needs the full path: the
 * person is unknown, an identifier would change, or nothing matched.
 */
static bool
resolve_fast(int64 workspace_id, const SpIdentity *identity,
			 SpPerson *person)
{
	static SpPlan by_external_id = {
		FAST_UPDATE("external_id OPERATOR(pg_catalog.=) $2"),
		7, {INT8OID, TEXTOID, BOOLOID, TEXTOID, JSONBOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID}
	};
	static SpPlan by_email = {
		FAST_UPDATE("email OPERATOR(pg_catalog.=) $2"),
		7, {INT8OID, TEXTOID, BOOLOID, TEXTOID, JSONBOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID}
	};
	static SpPlan by_both = {
		FAST_UPDATE("external_id OPERATOR(pg_catalog.=) $2"
					" AND email OPERATOR(pg_catalog.=) $8"),
		8, {INT8OID, TEXTOID, BOOLOID, TEXTOID, JSONBOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, TEXTOID}
	};
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	Datum		values[8];
	char		nulls[9] = "        ";
	SpPlan	   *plan;

	if (identity->set_once != NULL || identity->organization_given)
		return false;

	if (!identity->name_given && identity->properties == NULL)
	{
		static SpPlan by_external_id_shared = {
			"SELECT " SP_PERSON_COLUMNS " FROM simpleproduct.people"
			" WHERE workspace_id OPERATOR(pg_catalog.=) $1"
			" AND external_id OPERATOR(pg_catalog.=) $2 FOR KEY SHARE",
			2, {INT8OID, TEXTOID}
		};
		static SpPlan by_email_shared = {
			"SELECT " SP_PERSON_COLUMNS " FROM simpleproduct.people"
			" WHERE workspace_id OPERATOR(pg_catalog.=) $1"
			" AND email OPERATOR(pg_catalog.=) $2 FOR KEY SHARE",
			2, {INT8OID, TEXTOID}
		};
		static SpPlan by_both_shared = {
			"SELECT " SP_PERSON_COLUMNS " FROM simpleproduct.people"
			" WHERE workspace_id OPERATOR(pg_catalog.=) $1"
			" AND external_id OPERATOR(pg_catalog.=) $2"
			" AND email OPERATOR(pg_catalog.=) $3 FOR KEY SHARE",
			3, {INT8OID, TEXTOID, TEXTOID}
		};
		bool		found;

		/*
		 * A caller that will reference the person (feedback) locks it FOR
		 * KEY SHARE, which waits for a merge or erase deleting it, or an
		 * identifier changing; a plain identify needs no lock to read.  The
		 * locking lookup names every identifier given, so that it locks
		 * nothing when the full path (which locks rows in its own order)
		 * is needed.
		 */
		if (identity->referenced)
		{
			SpPlan	   *plan;

			values[0] = Int64GetDatum(workspace_id);
			if (identity->external_id != NULL && identity->email != NULL)
			{
				plan = &by_both_shared;
				values[1] = CStringGetTextDatum(identity->external_id);
				values[2] = CStringGetTextDatum(identity->email);
			}
			else
			{
				plan = identity->external_id ? &by_external_id_shared :
					&by_email_shared;
				values[1] = CStringGetTextDatum(identity->external_id ?
												identity->external_id :
												identity->email);
			}
			sp_execute(plan, values, NULL, false, 1);
			found = SPI_processed == 1;
			if (found)
				sp_person_from_current_row(person);
		}
		else
			found = identity->external_id != NULL ?
				sp_person_by_external_id(workspace_id, identity->external_id,
										 false, person) :
				sp_person_by_email(workspace_id, identity->email, false,
								   person);
		return found &&
			(identity->email == NULL ||
			 !sp_strings_differ(person->email, identity->email)) &&
			person->has_last_seen &&
			person->last_seen_at > now - SP_LAST_SEEN_INTERVAL;
	}

	values[0] = Int64GetDatum(workspace_id);
	values[2] = BoolGetDatum(identity->name_given);
	values[3] = identity->name ? CStringGetTextDatum(identity->name) : 0;
	nulls[3] = identity->name ? ' ' : 'n';
	values[4] = identity->properties ?
		JsonbPGetDatum(identity->properties) : (Datum) 0;
	nulls[4] = identity->properties ? ' ' : 'n';
	values[5] = TimestampTzGetDatum(now);
	values[6] = TimestampTzGetDatum(now - SP_LAST_SEEN_INTERVAL);
	if (identity->external_id != NULL && identity->email != NULL)
	{
		plan = &by_both;
		values[1] = CStringGetTextDatum(identity->external_id);
		values[7] = CStringGetTextDatum(identity->email);
	}
	else
	{
		plan = identity->external_id != NULL ? &by_external_id : &by_email;
		values[1] = CStringGetTextDatum(identity->external_id ?
										identity->external_id :
										identity->email);
		nulls[7] = '\0';
	}
	sp_execute(plan, values, nulls, false, 0);
	if (SPI_processed != 1)
		return false;
	sp_person_from_current_row(person);
	return true;
}

/*
 * Resolve the person a call identifies and apply the call to it, following
 * SPEC.md's identity table.  Returns false when the call names neither an
 * externalId nor an email.  Must be called connected to SPI.
 */
bool
sp_resolve_person(int64 workspace_id, const SpIdentity *identity,
				  SpPerson *person, bool *created)
{
	SpPerson	a;
	SpPerson	b;

	*created = false;
	if (identity->external_id == NULL && identity->email == NULL)
		return false;

	/* An explicit organization's domain lock comes before linking's. */
	if (identity->organization_domain != NULL)
		sp_lock_identifier(workspace_id, 'd', identity->organization_domain);
	if (identity->organization_domain != NULL)
		sp_lock_workspace_linking(workspace_id, true);	/* may add one */
	else if (identity->email != NULL)
		sp_lock_workspace_linking(workspace_id, false);
	sp_lock_person_identifiers(workspace_id, identity->external_id,
							   identity->email);
	sp_identity_changed = false;

	/*
	 * The fast path runs under the identifier locks too: a statement that
	 * waited for a row keeps the row locked even when it then matches
	 * nothing, so taking the identifier locks after it could deadlock.
	 */
	if (resolve_fast(workspace_id, identity, person))
	{
		unlock_person_identifiers(workspace_id, identity->external_id,
								  identity->email);
		return true;
	}

	/* Only a call that reaches two people locks two rows. */
	if (identity->external_id != NULL && identity->email != NULL &&
		sp_person_by_external_id(workspace_id, identity->external_id, false,
								 &a) &&
		sp_person_by_email(workspace_id, identity->email, false, &b) &&
		memcmp(&a.id, &b.id, sizeof(pg_uuid_t)) != 0)
		resolve_locked_retrying(workspace_id, identity,
								memcmp(&b.id, &a.id, sizeof(pg_uuid_t)) < 0,
								person, created);
	else
		resolve_locked(workspace_id, identity, false, person, created);

	if (!*created && !sp_identity_changed)
		unlock_person_identifiers(workspace_id, identity->external_id,
								  identity->email);
	return true;
}

PG_FUNCTION_INFO_V1(sp_identify);

/*
 * SQL: simpleproduct.sp_identify(jsonb).  Creates or updates a person and
 * returns it with "created": true|false.
 */
Datum
sp_identify(PG_FUNCTION_ARGS)
{
	Jsonb	   *input = PG_GETARG_JSONB_P(0);
	SpIdentity	identity;
	SpPerson	person;
	bool		created;
	int64		workspace_id;
	Jsonb	   *result;

	sp_require_object(input, "the person");
	sp_parse_identity(input, &identity);
	if (identity.external_id == NULL && identity.email == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a person needs an externalId or an email"),
				 errhint("Pass {\"externalId\": \"user_123\"} or {\"email\": \"ann@acme.com\"}, or both.")));

	workspace_id = sp_current_workspace();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	sp_resolve_person(workspace_id, &identity, &person, &created);
	result = sp_jsonb_for_caller(sp_person_to_jsonb(workspace_id, &person,
													created ? 1 : 0));
	SPI_finish();

	PG_RETURN_JSONB_P(result);
}
