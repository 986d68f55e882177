/*
 * server.h
 *		Declarations shared by the files of simpleproduct-server, the REST
 *		server in front of the simpleproduct extension.
 *
 * The server is four small parts: main.c reads the configuration and runs
 * the daemon until SIGTERM; router.c turns an HTTP request into one call of
 * an api_* SQL function; pool.c owns one libpq connection per worker thread;
 * response.c writes JSON answers and maps SQLSTATEs to HTTP statuses.
 */
#ifndef SP_SERVER_H
#define SP_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

/* What the command line and the environment configure. */
typedef struct ServerConfig
{
	char	   *listen;			/* "host:port", "[v6]:port" */
	char	   *conninfo;		/* libpq connection string, may be empty */
	unsigned int threads;		/* worker threads, one connection each */
	size_t		body_limit;		/* largest request body, in bytes */
	unsigned int timeout;		/* seconds a connection may stay silent */
	unsigned int grace;			/* seconds SIGTERM waits for requests */
} ServerConfig;

extern ServerConfig server_config;

/* Set once SIGTERM arrives: answers then carry "Connection: close". */
extern atomic_bool server_stopping;

/* The prepared statements, one per route (plus the health check). */
typedef enum ApiStatement
{
	STMT_POST_PERSON,
	STMT_GET_PERSON,
	STMT_DELETE_PERSON,
	STMT_POST_ORGANIZATION,
	STMT_GET_ORGANIZATION,
	STMT_POST_FEEDBACK,
	STMT_GET_FEEDBACK,
	STMT_HEALTH,
	STMT_COUNT
} ApiStatement;

/*
 * The outcome of one statement.  Either it ran (ok: status, id and body are
 * the row the api_* function returned), or it failed with a SQLSTATE and
 * message from the server, or the database could not be reached
 * (unavailable).  Strings are malloc'd; db_result_free releases them.
 */
typedef struct DbResult
{
	bool		ok;
	bool		unavailable;
	int			status;
	char	   *id;
	char	   *body;
	size_t		body_len;
	char		sqlstate[6];
	char	   *message;
} DbResult;

/* pool.c */
extern void pool_init(const char *conninfo);
extern void pool_execute(ApiStatement statement, int nparams,
						 const char *const *params, DbResult *result);
extern void db_result_free(DbResult *result);
extern void pool_cancel_all(void);
extern void pool_shutdown(void);

/*
 * The state of one HTTP request, kept in MHD's per-request pointer from the
 * moment its request line is read (router_begin) to the completion
 * callback.
 */
typedef struct Request
{
	uint64_t	started_ns;		/* monotonic clock at the first call */
	char	   *method;
	char	   *path;
	unsigned int status;		/* status answered, for the access log */
	int			route;			/* router.c's route, or -1 */
	bool		nul_in_path;	/* the raw path has a %00 */
	bool		nul_in_query;	/* the raw query string has a %00 */
	char	   *body;			/* request body gathered so far */
	size_t		body_len;
	size_t		body_cap;
	bool		body_too_large;
	bool		answered;
} Request;

/* router.c */
extern void *router_begin(void *cls, const char *uri,
						  struct MHD_Connection *connection);
extern enum MHD_Result router_handle(void *cls,
									 struct MHD_Connection *connection,
									 const char *url, const char *method,
									 const char *version,
									 const char *upload_data,
									 size_t *upload_data_size,
									 void **req_cls);
extern void router_completed(void *cls, struct MHD_Connection *connection,
							 void **req_cls,
							 enum MHD_RequestTerminationCode toe);
extern unsigned int router_in_flight(void);

/* response.c */
extern enum MHD_Result respond_json(struct MHD_Connection *connection,
									Request *request, unsigned int status,
									const char *body, size_t body_len,
									const char *location,
									const char *allow);
extern enum MHD_Result respond_error(struct MHD_Connection *connection,
									 Request *request, unsigned int status,
									 const char *code, const char *message,
									 const char *allow);
extern enum MHD_Result respond_db_error(struct MHD_Connection *connection,
										Request *request,
										const DbResult *result);

/* main.c */
extern uint64_t monotonic_ns(void);
extern void log_line(const char *format,...)
			__attribute__((format(printf, 1, 2)));

#endif							/* SP_SERVER_H */
