/*
 * pool.c
 *		One libpq connection per worker thread of simpleproduct-server.
 *
 * libmicrohttpd binds each HTTP connection to one worker thread, and each
 * worker thread keeps its own database connection in thread-local storage,
 * so no lock is taken on the request path.  A connection is made on first
 * use, prepares every statement once, and is remade whenever it is found
 * broken: while the database is away requests get a 503, and the first
 * request after it is back reconnects, with no restart of the server.  A
 * connection the database ended while it was idle (a restart, a terminated
 * backend) is found dead before a request is sent on it, so that request
 * goes out on a new connection instead of failing; one found dead only
 * under the statement is retried once when that is safe (see
 * pool_execute).
 *
 * Every slot is also on a global list, so that pool_shutdown can close the
 * connections after the worker threads have been joined.
 */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "server.h"

/* One worker thread's connection. */
typedef struct PoolSlot
{
	PGconn	   *conn;			/* NULL when not connected */
	PGcancel   *cancel;			/* for pool_cancel_all, under cancel_lock */
	pthread_mutex_t cancel_lock;
	bool		was_lost;		/* the last attempt failed (log once) */
	bool		ended_by_server;	/* a FATAL arrived while idle */
	struct PoolSlot *next;		/* on the global list */
} PoolSlot;

/* Name and text of each prepared statement, by ApiStatement. */
static const struct
{
	const char *name;
	const char *sql;
	int			nparams;
}			statements[STMT_COUNT] = {
	[STMT_POST_PERSON] = {"post_person",
		"SELECT status, id, result"
		" FROM simpleproduct.api_post_person($1, $2)", 2},
	[STMT_GET_PERSON] = {"get_person",
		"SELECT status, id, result"
		" FROM simpleproduct.api_get_person($1, $2, $3)", 3},
	[STMT_DELETE_PERSON] = {"delete_person",
		"SELECT status, id, result"
		" FROM simpleproduct.api_delete_person($1, $2, $3, $4)", 4},
	[STMT_POST_ORGANIZATION] = {"post_organization",
		"SELECT status, id, result"
		" FROM simpleproduct.api_post_organization($1, $2)", 2},
	[STMT_GET_ORGANIZATION] = {"get_organization",
		"SELECT status, id, result"
		" FROM simpleproduct.api_get_organization($1, $2)", 2},
	[STMT_POST_FEEDBACK] = {"post_feedback",
		"SELECT status, id, result"
		" FROM simpleproduct.api_post_feedback($1, $2)", 2},
	[STMT_GET_FEEDBACK] = {"get_feedback",
		"SELECT status, id, result"
		" FROM simpleproduct.api_get_feedback($1, $2)", 2},
	[STMT_HEALTH] = {"health", "SELECT 200, NULL, '{\"status\":\"ok\"}'", 0},
};

static char *pool_conninfo = NULL;
static PoolSlot *all_slots = NULL;
static pthread_mutex_t all_slots_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread PoolSlot *thread_slot = NULL;

/*
 * Remember the connection string; connections are made lazily, by the
 * worker threads themselves.
 */
void
pool_init(const char *conninfo)
{
	pool_conninfo = strdup(conninfo != NULL ? conninfo : "");
}

/*
 * The calling thread's slot, made (and put on the global list) on first
 * use.
 */
static PoolSlot *
pool_thread_slot(void)
{
	PoolSlot   *slot = thread_slot;

	if (slot != NULL)
		return slot;

	slot = calloc(1, sizeof(PoolSlot));
	if (slot == NULL)
		return NULL;
	pthread_mutex_init(&slot->cancel_lock, NULL);
	pthread_mutex_lock(&all_slots_lock);
	slot->next = all_slots;
	all_slots = slot;
	pthread_mutex_unlock(&all_slots_lock);
	thread_slot = slot;
	return slot;
}

/*
 * Close the slot's connection, if any.
 */
static void
pool_disconnect(PoolSlot *slot)
{
	pthread_mutex_lock(&slot->cancel_lock);
	if (slot->cancel != NULL)
		PQfreeCancel(slot->cancel);
	slot->cancel = NULL;
	pthread_mutex_unlock(&slot->cancel_lock);

	if (slot->conn != NULL)
	{
		PQfinish(slot->conn);
		slot->conn = NULL;
	}
}

/*
 * Notice receiver of every connection.  An idle connection that the server
 * ends (shutdown, pg_terminate_backend) receives its FATAL message as a
 * notice; an immediate shutdown or a crash sends a WARNING with SQLSTATE
 * 57P01 or 57P02 instead.  Either marks the slot, so that the connection is
 * remade before the next request is sent on it.  Other notices are
 * dropped: the API functions raise none that a client could act on.
 */
static void
pool_notice_receiver(void *arg, const PGresult *res)
{
	PoolSlot   *slot = arg;
	const char *severity;
	const char *sqlstate;

	severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (severity != NULL &&
		(strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0))
		slot->ended_by_server = true;
	if (sqlstate != NULL && strncmp(sqlstate, "57P0", 4) == 0)
		slot->ended_by_server = true;
}

/*
 * Whether the slot's connection is still usable.  A connection the server
 * closed (a restart, a terminated backend) is readable while idle: reading
 * it lets libpq notice the loss before a request is sent on it.  What
 * arrived is read until nothing more is waiting, because a message (the
 * server's last words) and the end of the connection may come in two
 * reads.
 */
static bool
pool_connection_alive(PoolSlot *slot)
{
	struct pollfd pfd;
	int			reads;

	if (slot->conn == NULL || PQstatus(slot->conn) != CONNECTION_OK ||
		slot->ended_by_server)
		return false;

	pfd.fd = PQsocket(slot->conn);
	if (pfd.fd < 0)
		return false;
	for (reads = 0; reads < 8; reads++)
	{
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) <= 0)
			break;

		/* Read what arrived, and parse it so that a FATAL is noticed. */
		if (!PQconsumeInput(slot->conn))
			return false;
		(void) PQisBusy(slot->conn);
		if (PQstatus(slot->conn) != CONNECTION_OK || slot->ended_by_server)
			return false;
	}
	return true;
}

/*
 * Whether running the statement twice does no harm: it only reads.
 */
static bool
pool_statement_reads_only(ApiStatement statement)
{
	return statement == STMT_GET_PERSON ||
		statement == STMT_GET_ORGANIZATION ||
		statement == STMT_GET_FEEDBACK ||
		statement == STMT_HEALTH;
}

/*
 * Connect the slot and prepare every statement.  The client encoding is
 * always UTF-8: request bodies are UTF-8 JSON, and the answers are sent as
 * such whatever the database's encoding.  Returns false, and leaves
 * the slot unconnected, when the database cannot be reached or refuses the
 * statements; the cause is logged once per outage.
 */
static bool
pool_connect(PoolSlot *slot)
{
	const char *keywords[] = {"connect_timeout", "application_name",
	"dbname", "client_encoding", NULL};
	const char *values[] = {"5", "simpleproduct-server", pool_conninfo,
	"UTF8", NULL};
	int			i;

	pool_disconnect(slot);
	slot->ended_by_server = false;
	slot->conn = PQconnectdbParams(keywords, values, 1);
	if (slot->conn == NULL)
		return false;
	PQsetNoticeReceiver(slot->conn, pool_notice_receiver, slot);
	if (PQstatus(slot->conn) != CONNECTION_OK)
	{
		if (!slot->was_lost)
			log_line("database connection failed: %s",
					 PQerrorMessage(slot->conn));
		slot->was_lost = true;
		pool_disconnect(slot);
		return false;
	}

	for (i = 0; i < STMT_COUNT; i++)
	{
		PGresult   *res = PQprepare(slot->conn, statements[i].name,
									statements[i].sql,
									statements[i].nparams, NULL);

		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			if (!slot->was_lost)
				log_line("preparing statement %s failed: %s",
						 statements[i].name, PQerrorMessage(slot->conn));
			slot->was_lost = true;
			PQclear(res);
			pool_disconnect(slot);
			return false;
		}
		PQclear(res);
	}

	pthread_mutex_lock(&slot->cancel_lock);
	slot->cancel = PQgetCancel(slot->conn);
	pthread_mutex_unlock(&slot->cancel_lock);

	if (slot->was_lost)
		log_line("database connection restored");
	slot->was_lost = false;
	return true;
}

/*
 * Copy a successful row into result.
 */
static void
pool_take_row(PGresult *res, DbResult *result)
{
	if (PQntuples(res) != 1 || PQnfields(res) != 3)
	{
		strcpy(result->sqlstate, "XX000");
		result->message = strdup("unexpected result shape");
		return;
	}

	result->ok = true;
	result->status = atoi(PQgetvalue(res, 0, 0));
	if (!PQgetisnull(res, 0, 1))
		result->id = strdup(PQgetvalue(res, 0, 1));
	if (!PQgetisnull(res, 0, 2))
	{
		result->body_len = (size_t) PQgetlength(res, 0, 2);
		result->body = malloc(result->body_len + 1);
		if (result->body != NULL)
			memcpy(result->body, PQgetvalue(res, 0, 2),
				   result->body_len + 1);
	}
}

/*
 * Copy an error's SQLSTATE and primary message into result.
 */
static void
pool_take_error(PGresult *res, DbResult *result)
{
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	if (sqlstate == NULL || strlen(sqlstate) != 5)
		sqlstate = "XX000";
	memcpy(result->sqlstate, sqlstate, 6);
	result->message = strdup(message != NULL ? message : "");
}

/*
 * Run one prepared statement on the calling thread's connection, in one
 * round trip.  A broken connection is remade first.  If the connection is
 * lost under the statement, it is tried once more on a new connection when
 * that is safe: the server ended the session because it is shutting down
 * (57P01..57P03), so the transaction did not commit; or the statement only
 * reads.  Any other loss of the connection answers "unavailable", since a
 * statement that writes may or may not have committed.
 */
void
pool_execute(ApiStatement statement, int nparams, const char *const *params,
			 DbResult *result)
{
	PoolSlot   *slot = pool_thread_slot();
	int			attempt;

	memset(result, 0, sizeof(DbResult));
	if (slot == NULL)
	{
		result->unavailable = true;
		return;
	}

	for (attempt = 0; attempt < 2; attempt++)
	{
		PGresult   *res;
		ExecStatusType status;

		if (!pool_connection_alive(slot) && !pool_connect(slot))
		{
			result->unavailable = true;
			return;
		}

		res = PQexecPrepared(slot->conn, statements[statement].name,
							 nparams, params, NULL, NULL, 0);
		status = PQresultStatus(res);
		if (status == PGRES_TUPLES_OK)
		{
			pool_take_row(res, result);
			PQclear(res);
			return;
		}

		pool_take_error(res, result);
		PQclear(res);
		if (PQstatus(slot->conn) == CONNECTION_OK)
			return;

		/* The connection is gone. */
		log_line("database connection lost: sqlstate %s", result->sqlstate);
		slot->was_lost = true;
		pool_disconnect(slot);
		if (attempt > 0 ||
			!(strncmp(result->sqlstate, "57P0", 4) == 0 ||
			  pool_statement_reads_only(statement)))
		{
			result->unavailable = true;
			return;
		}
		free(result->message);
		memset(result, 0, sizeof(DbResult));
	}
}

/*
 * Free the strings of a result.
 */
void
db_result_free(DbResult *result)
{
	free(result->id);
	free(result->body);
	free(result->message);
	memset(result, 0, sizeof(DbResult));
}

/*
 * Ask the database to cancel whatever each connection is running.  Called
 * by the main thread when SIGTERM's grace period is over, so that a stop
 * never waits on a stuck statement; the cancelled requests get a 503.
 */
void
pool_cancel_all(void)
{
	PoolSlot   *slot;
	char		error[256];

	pthread_mutex_lock(&all_slots_lock);
	for (slot = all_slots; slot != NULL; slot = slot->next)
	{
		pthread_mutex_lock(&slot->cancel_lock);
		if (slot->cancel != NULL)
			(void) PQcancel(slot->cancel, error, sizeof(error));
		pthread_mutex_unlock(&slot->cancel_lock);
	}
	pthread_mutex_unlock(&all_slots_lock);
}

/*
 * Close every connection and free the slots.  Called once the worker
 * threads have stopped.
 */
void
pool_shutdown(void)
{
	PoolSlot   *slot;

	pthread_mutex_lock(&all_slots_lock);
	slot = all_slots;
	all_slots = NULL;
	pthread_mutex_unlock(&all_slots_lock);

	while (slot != NULL)
	{
		PoolSlot   *next = slot->next;

		pool_disconnect(slot);
		pthread_mutex_destroy(&slot->cancel_lock);
		free(slot);
		slot = next;
	}
	free(pool_conninfo);
	pool_conninfo = NULL;
}
