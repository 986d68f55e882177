/*
 * router.c
 *		Routing of simpleproduct-server: from an HTTP request to one call of
 *		an api_* SQL function.
 *
 * The routes:
 *
 *	GET  /healthz						200 when the database answers, else 503
 *	POST /api/v1/people					201 created / 200 updated
 *	GET  /api/v1/people?email=|?externalId=	200 / 404
 *	GET  /api/v1/people/:id				200 / 404
 *	DELETE /api/v1/people/:id[?deleteFeedback=true][&suppress=true]
 *										200 erased / 404
 *	POST /api/v1/organizations			201 created / 200 updated
 *	GET  /api/v1/organizations/:id		200 / 404
 *	POST /api/v1/feedback				201
 *	GET  /api/v1/feedback/:id			200 / 404
 *
 * The router checks only what HTTP itself is about (the route and method,
 * the Authorization header's form, the content type, the body's size and
 * framing) and parses no JSON: the body goes to PostgreSQL as text, where
 * the api_* function checks the key and then does the work, in one
 * statement.
 *
 * A NUL byte is refused wherever it could hide: in the body (400), and as
 * %00 in the path (404) or in a query string (400).  libmicrohttpd decodes
 * the path and the query into C strings, so a %00 would otherwise cut the
 * value short and the request would act on what comes before it.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server.h"

/* The routes, and which methods each one takes. */
typedef enum Route
{
	ROUTE_HEALTH,
	ROUTE_PEOPLE,
	ROUTE_PERSON,
	ROUTE_ORGANIZATIONS,
	ROUTE_ORGANIZATION,
	ROUTE_FEEDBACK,
	ROUTE_FEEDBACK_ITEM
} Route;

typedef struct RouteInfo
{
	const char *prefix;			/* path, or path prefix for an :id route */
	bool		has_id;
	bool		get;
	bool		post;
	bool		delete;
	const char *allow;
} RouteInfo;

static const RouteInfo routes[] = {
	[ROUTE_HEALTH] = {"/healthz", false, true, false, false, "GET, HEAD"},
	[ROUTE_PEOPLE] = {"/api/v1/people", false, true, true, false,
	"GET, HEAD, POST"},
	[ROUTE_PERSON] = {"/api/v1/people/", true, true, false, true,
	"GET, HEAD, DELETE"},
	[ROUTE_ORGANIZATIONS] = {"/api/v1/organizations", false, false, true,
	false, "POST"},
	[ROUTE_ORGANIZATION] = {"/api/v1/organizations/", true, true, false,
	false, "GET, HEAD"},
	[ROUTE_FEEDBACK] = {"/api/v1/feedback", false, false, true, false,
	"POST"},
	[ROUTE_FEEDBACK_ITEM] = {"/api/v1/feedback/", true, true, false, false,
	"GET, HEAD"},
};

#define ROUTE_COUNT ((int) (sizeof(routes) / sizeof(routes[0])))

/* Longest API key the router passes on; anything longer is not a key. */
#define MAX_API_KEY_LEN 256

/* Requests between their request line and their completion. */
static atomic_uint in_flight = 0;

/*
 * The route of a path, or -1.  *id points into path at the :id segment of
 * an :id route.
 */
static int
route_of(const char *path, const char **id)
{
	int			i;

	*id = NULL;
	for (i = 0; i < ROUTE_COUNT; i++)
	{
		size_t		len = strlen(routes[i].prefix);

		if (!routes[i].has_id)
		{
			if (strcmp(path, routes[i].prefix) == 0)
				return i;
			continue;
		}
		if (strncmp(path, routes[i].prefix, len) == 0 &&
			path[len] != '\0' && strchr(path + len, '/') == NULL)
		{
			*id = path + len;
			return i;
		}
	}
	return -1;
}

/* Counts of the headers that frame a body, for the smuggling check. */
typedef struct FramingHeaders
{
	int			content_length;
	int			transfer_encoding;
} FramingHeaders;

/*
 * Header iterator: count Content-Length and Transfer-Encoding headers.
 */
static enum MHD_Result
count_framing_headers(void *cls, enum MHD_ValueKind kind, const char *key,
					  const char *value)
{
	FramingHeaders *framing = cls;

	(void) kind;
	(void) value;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		framing->content_length++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
		framing->transfer_encoding++;
	return MHD_YES;
}

/*
 * Whether the Content-Type names JSON: application/json, or a type with a
 * +json suffix, with any parameters (charset=utf-8).
 */
static bool
content_type_is_json(const char *content_type)
{
	size_t		len;

	if (content_type == NULL)
		return false;
	while (*content_type == ' ')
		content_type++;
	len = strcspn(content_type, "; \t");
	if (len == strlen("application/json") &&
		strncasecmp(content_type, "application/json", len) == 0)
		return true;
	return len > strlen("application/+json") &&
		strncasecmp(content_type, "application/", 12) == 0 &&
		strncasecmp(content_type + len - 5, "+json", 5) == 0;
}

/*
 * The API key of the request: the token of "Authorization: Bearer <key>",
 * or NULL when there is none.
 */
static const char *
bearer_token(struct MHD_Connection *connection)
{
	const char *header;

	header = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
										 MHD_HTTP_HEADER_AUTHORIZATION);
	if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
		return NULL;
	header += 7;
	while (*header == ' ')
		header++;
	if (*header == '\0' || strlen(header) > MAX_API_KEY_LEN)
		return NULL;
	return header;
}

/*
 * The checks made when the headers are in, before any body is read: the
 * route, the method, the framing, the key's presence, the content type and
 * the announced size.  Returns MHD_YES with request->answered set when it
 * answered, and MHD_YES with nothing answered when the request may go on.
 */
static enum MHD_Result
check_headers(struct MHD_Connection *connection, Request *request,
			  const char *method)
{
	FramingHeaders framing = {0, 0};
	const RouteInfo *route;
	bool		is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
		strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	bool		is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	bool		is_delete = strcmp(method, MHD_HTTP_METHOD_DELETE) == 0;
	const char *content_length;
	const char *content_type;

	MHD_get_connection_values(connection, MHD_HEADER_KIND,
							  count_framing_headers, &framing);
	if (framing.content_length > 1 ||
		(framing.content_length > 0 && framing.transfer_encoding > 0))
	{
		return respond_error(connection, request, 400, "bad_request",
							 "ambiguous message framing: two Content-Length headers, or Content-Length with Transfer-Encoding",
							 NULL);
	}

	if (request->route < 0)
		return respond_error(connection, request, 404, "not_found",
							 "no such route", NULL);
	route = &routes[request->route];
	if (!((is_get && route->get) || (is_post && route->post) ||
		  (is_delete && route->delete)))
		return respond_error(connection, request, 405, "method_not_allowed",
							 "method not allowed on this route",
							 route->allow);
	if (request->nul_in_query)
		return respond_error(connection, request, 400, "bad_request",
							 "the query string contains a NUL character (%00)",
							 NULL);

	if (request->route == ROUTE_HEALTH)
		return MHD_YES;

	if (bearer_token(connection) == NULL)
		return respond_error(connection, request, 401, "unauthorized",
							 "missing api key: send Authorization: Bearer <key>",
							 NULL);

	if (!is_post)
		return MHD_YES;

	content_type = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
											   MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!content_type_is_json(content_type))
		return respond_error(connection, request, 415,
							 "unsupported_media_type",
							 "the body must be JSON (Content-Type: application/json)",
							 NULL);

	content_length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
												 MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (content_length != NULL &&
		strtoull(content_length, NULL, 10) > server_config.body_limit)
		return respond_error(connection, request, 413, "payload_too_large",
							 "the body is larger than the server accepts",
							 NULL);
	return MHD_YES;
}

/*
 * Append a chunk of the body, or note that the body is too large (the rest
 * is then read and dropped, and the answer is 413).
 */
static void
gather_body(Request *request, const char *data, size_t size)
{
	if (request->body_too_large)
		return;
	if (request->body_len + size > server_config.body_limit)
	{
		request->body_too_large = true;
		free(request->body);
		request->body = NULL;
		request->body_len = request->body_cap = 0;
		return;
	}
	if (request->body_len + size + 1 > request->body_cap)
	{
		size_t		capacity = request->body_cap ? request->body_cap : 4096;
		char	   *grown;

		while (capacity < request->body_len + size + 1)
			capacity *= 2;
		grown = realloc(request->body, capacity);
		if (grown == NULL)
		{
			request->body_too_large = true;
			return;
		}
		request->body = grown;
		request->body_cap = capacity;
	}
	memcpy(request->body + request->body_len, data, size);
	request->body_len += size;
	request->body[request->body_len] = '\0';
}

/*
 * The query parameters of DELETE /api/v1/people/:id, as the text of the
 * booleans passed to api_delete_person.  error is set, and the rest is
 * ignored, at the first parameter that is not exactly one of
 * deleteFeedback and suppress, each given at most once as true or false:
 * a mistyped flag must not quietly erase less (or more) than asked.
 */
typedef struct EraseFlags
{
	const char *delete_feedback;
	const char *suppress;
	char		error[160];
} EraseFlags;

/*
 * Whether text is printable ASCII only, fit to be quoted in a message.
 */
static bool
printable_ascii(const char *text)
{
	for (; *text != '\0'; text++)
	{
		if ((unsigned char) *text < 0x20 || (unsigned char) *text > 0x7e)
			return false;
	}
	return true;
}

/*
 * Query argument iterator: check one argument and record it in EraseFlags.
 */
static enum MHD_Result
read_erase_flag(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	EraseFlags *flags = cls;
	const char **slot;

	(void) kind;
	if (strcmp(key, "deleteFeedback") == 0)
		slot = &flags->delete_feedback;
	else if (strcmp(key, "suppress") == 0)
		slot = &flags->suppress;
	else
	{
		/* Quote only a short, printable name: the answer stays clean. */
		if (strlen(key) <= 60 && printable_ascii(key))
			snprintf(flags->error, sizeof(flags->error),
					 "unknown query parameter \"%s\": DELETE takes deleteFeedback and suppress",
					 key);
		else
			snprintf(flags->error, sizeof(flags->error),
					 "unknown query parameter: DELETE takes deleteFeedback and suppress");
		return MHD_NO;
	}

	if (*slot != NULL)
	{
		snprintf(flags->error, sizeof(flags->error),
				 "query parameter \"%s\" given twice", key);
		return MHD_NO;
	}
	if (value == NULL ||
		(strcmp(value, "true") != 0 && strcmp(value, "false") != 0))
	{
		snprintf(flags->error, sizeof(flags->error),
				 "query parameter \"%s\" must be true or false", key);
		return MHD_NO;
	}
	*slot = value;
	return MHD_YES;
}

/*
 * Answer from the row an api_* function returned, or from its error.
 * location_prefix, when given, makes a 201 carry a Location header.
 */
static enum MHD_Result
respond_db_result(struct MHD_Connection *connection, Request *request,
				  const DbResult *result, const char *location_prefix)
{
	char	   *location = NULL;
	enum MHD_Result ret;

	if (!result->ok)
		return respond_db_error(connection, request, result);

	if (result->status == 201 && location_prefix != NULL && result->id != NULL)
	{
		size_t		len = strlen(location_prefix) + strlen(result->id) + 1;

		location = malloc(len);
		if (location != NULL)
		{
			strcpy(location, location_prefix);
			strcat(location, result->id);
		}
	}
	ret = respond_json(connection, request, (unsigned int) result->status,
					   result->body != NULL ? result->body : "null",
					   result->body != NULL ? result->body_len : 4,
					   location, NULL);
	free(location);
	return ret;
}

/*
 * Run the request: one statement, then the answer.
 */
static enum MHD_Result
dispatch(struct MHD_Connection *connection, Request *request,
		 const char *url, const char *method)
{
	const char *id;
	const char *api_key = bearer_token(connection);
	const char *params[4];
	DbResult	result;
	enum MHD_Result ret;
	bool		is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	bool		is_delete = strcmp(method, MHD_HTTP_METHOD_DELETE) == 0;
	ApiStatement statement;
	int			nparams = 2;
	const char *location_prefix = NULL;

	(void) route_of(url, &id);
	params[0] = api_key;
	params[1] = request->body != NULL ? request->body : "";

	if (is_post && request->body_len != strlen(params[1]))
		return respond_error(connection, request, 400, "invalid_json",
							 "the body contains a NUL byte", NULL);

	switch ((Route) request->route)
	{
		case ROUTE_HEALTH:
			statement = STMT_HEALTH;
			nparams = 0;
			break;
		case ROUTE_PEOPLE:
			if (is_post)
			{
				statement = STMT_POST_PERSON;
				location_prefix = "/api/v1/people/";
			}
			else
			{
				const char *email;
				const char *external_id;

				email = MHD_lookup_connection_value(connection,
													MHD_GET_ARGUMENT_KIND,
													"email");
				external_id = MHD_lookup_connection_value(connection,
														  MHD_GET_ARGUMENT_KIND,
														  "externalId");
				if ((email == NULL) == (external_id == NULL))
					return respond_error(connection, request, 400,
										 "bad_request",
										 "give exactly one of the query parameters email and externalId",
										 NULL);
				statement = STMT_GET_PERSON;
				params[1] = email != NULL ? "email" : "externalId";
				params[2] = email != NULL ? email : external_id;
				nparams = 3;
			}
			break;
		case ROUTE_PERSON:
			if (is_delete)
			{
				EraseFlags	flags = {NULL, NULL, ""};

				if (request->body_len > 0)
					return respond_error(connection, request, 400,
										 "bad_request",
										 "DELETE takes no body: pass deleteFeedback and suppress as query parameters",
										 NULL);
				MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND,
										  read_erase_flag, &flags);
				if (flags.error[0] != '\0')
					return respond_error(connection, request, 400,
										 "bad_request", flags.error, NULL);
				statement = STMT_DELETE_PERSON;
				params[1] = id;
				params[2] = flags.delete_feedback ? flags.delete_feedback :
					"false";
				params[3] = flags.suppress ? flags.suppress : "false";
				nparams = 4;
				break;
			}
			statement = STMT_GET_PERSON;
			params[1] = "id";
			params[2] = id;
			nparams = 3;
			break;
		case ROUTE_ORGANIZATIONS:
			statement = STMT_POST_ORGANIZATION;
			location_prefix = "/api/v1/organizations/";
			break;
		case ROUTE_ORGANIZATION:
			statement = STMT_GET_ORGANIZATION;
			params[1] = id;
			break;
		case ROUTE_FEEDBACK:
			statement = STMT_POST_FEEDBACK;
			location_prefix = "/api/v1/feedback/";
			break;
		case ROUTE_FEEDBACK_ITEM:
			statement = STMT_GET_FEEDBACK;
			params[1] = id;
			break;
		default:
			return respond_error(connection, request, 404, "not_found",
								 "no such route", NULL);
	}

	pool_execute(statement, nparams, params, &result);
	ret = respond_db_result(connection, request, &result, location_prefix);
	db_result_free(&result);
	return ret;
}

/*
 * A copy of a method or path fit for the access log: at most 200 bytes,
 * control characters (a decoded %0A, say) replaced so that a client cannot
 * forge log lines.
 */
static char *
loggable_copy(const char *text)
{
	size_t		len = strnlen(text, 200);
	char	   *copy = malloc(len + 1);
	size_t		i;

	if (copy == NULL)
		return NULL;
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) text[i];

		copy[i] = (c < 0x20 || c == 0x7f) ? '?' : (char) c;
	}
	copy[len] = '\0';
	return copy;
}

/*
 * libmicrohttpd's URI log callback, called with the request target as the
 * client sent it, before it is decoded: start the request's state (which
 * becomes its per-request pointer) and note where a %00 hides.  The raw
 * target is not kept: its query string must not reach the access log.
 */
void *
router_begin(void *cls, const char *uri, struct MHD_Connection *connection)
{
	Request    *request;
	const char *query;
	const char *nul;

	(void) cls;
	(void) connection;

	request = calloc(1, sizeof(Request));
	if (request == NULL)
		return NULL;
	request->started_ns = monotonic_ns();
	request->route = -1;

	query = strchr(uri, '?');
	nul = strstr(uri, "%00");
	if (nul != NULL && (query == NULL || nul < query))
		request->nul_in_path = true;
	if (query != NULL && strstr(query, "%00") != NULL)
		request->nul_in_query = true;

	atomic_fetch_add(&in_flight, 1);
	return request;
}

/*
 * The libmicrohttpd access handler.  It is called once when the headers
 * are in (the checks that need no body are made then), once per chunk of
 * body, and once more when the body is complete (the request runs then).
 */
enum MHD_Result
router_handle(void *cls, struct MHD_Connection *connection, const char *url,
			  const char *method, const char *version,
			  const char *upload_data, size_t *upload_data_size,
			  void **req_cls)
{
	Request    *request = *req_cls;
	const char *id;

	(void) cls;
	(void) version;

	/* router_begin made the request, unless it ran out of memory. */
	if (request == NULL)
		return MHD_NO;

	if (request->method == NULL)
	{
		request->method = loggable_copy(method);
		request->path = loggable_copy(url);
		if (request->method == NULL || request->path == NULL)
			return MHD_NO;

		/* A path cut short at a %00 names nothing. */
		request->route = request->nul_in_path ? -1 : route_of(url, &id);
		return check_headers(connection, request, method);
	}

	if (*upload_data_size > 0)
	{
		/*
		 * The connection timeout only bounds silence; a client trickling
		 * its body a byte at a time must still finish within it.
		 */
		if (monotonic_ns() - request->started_ns >
			(uint64_t) server_config.timeout * 1000000000u)
			return MHD_NO;
		if (!request->answered)
			gather_body(request, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}

	if (request->answered)
		return MHD_YES;
	if (request->body_too_large)
		return respond_error(connection, request, 413, "payload_too_large",
							 "the body is larger than the server accepts",
							 NULL);
	return dispatch(connection, request, url, method);
}

/*
 * Completion callback: write the access-log line (method, path, status,
 * duration; never a key, a query string or a body) and free the request.
 */
void
router_completed(void *cls, struct MHD_Connection *connection,
				 void **req_cls, enum MHD_RequestTerminationCode toe)
{
	Request    *request = *req_cls;
	double		elapsed_ms;

	(void) cls;
	(void) connection;

	if (request == NULL)
		return;
	elapsed_ms = (double) (monotonic_ns() - request->started_ns) / 1e6;
	if (request->method == NULL || request->path == NULL)
	{
		/*
		 * The request ended before the access handler saw it: the client
		 * left while sending its headers, or libmicrohttpd refused them (a
		 * header too large, say) and answered itself.
		 */
		log_line("- - refused by the HTTP layer or left %.1fms", elapsed_ms);
	}
	else if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK || request->answered)
		log_line("%s %s %u %.1fms", request->method, request->path,
				 request->status, elapsed_ms);
	else
		log_line("%s %s aborted %.1fms", request->method, request->path,
				 elapsed_ms);

	free(request->method);
	free(request->path);
	free(request->body);
	free(request);
	*req_cls = NULL;
	atomic_fetch_sub(&in_flight, 1);
}

/*
 * How many requests are between their request line and their completion;
 * SIGTERM waits for this to reach zero.
 */
unsigned int
router_in_flight(void)
{
	return atomic_load(&in_flight);
}
