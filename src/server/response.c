/*
 * response.c
 *		JSON answers of simpleproduct-server, and the mapping of the
 *		database's SQLSTATEs to HTTP statuses.
 *
 * Every error leaves as {"error":{"code":"...","message":"..."}}.  For a 4xx
 * the message may be PostgreSQL's own, which the core writes for the caller
 * ("invalid email address: ..."); a 5xx always says something generic and
 * the details go to the server's log only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

/*
 * The contract between the core and this server: the SQLSTATE an error is
 * raised with decides the HTTP status.
 *
 *	SQLSTATE  raised for							HTTP  code
 *	22P02	  malformed JSON (the cast to jsonb)	400   invalid_json
 *	22021	  a body that is not UTF-8				400   invalid_json
 *	22P05	  \u0000 in a JSON string (jsonb has no	400   unsupported_character
 *			  NUL character)
 *	54001	  JSON nested too deeply for the parser	400   too_deeply_nested
 *	42804	  a JSON value of the wrong type		400   invalid_type
 *	22023	  well-formed but invalid				422   invalid_value
 *	22001	  a value too long						422   value_too_long
 *	23514	  a check on the data					422   invalid_value
 *	28000	  missing, unknown or revoked API key	401   unauthorized
 *	42501	  not allowed							403   forbidden
 *	P0002	  no such person or organization		404   not_found
 *	SP001	  identity conflict under 'reject'		409   identity_conflict
 *	SP002	  an identifier of an erased person		409   identifier_suppressed
 *	57014	  cancelled when the server stops		503   unavailable
 *	08xxx, 57P01, 57P02, 57P03, 53300,
 *			  or the connection lost				503   unavailable
 *	anything else									500   internal_error
 *
 * A 4xx carries PostgreSQL's message, except where the table gives one of
 * its own (PostgreSQL's would speak of its internals); a 5xx a generic one.  An identity
 * conflict raised for a workspace under 'reject' does not reach this table:
 * the api_* function catches it and returns the 409 itself, as a row whose
 * body also names the people involved.
 */
typedef struct SqlstateMapping
{
	const char *sqlstate;
	unsigned int status;
	const char *code;
	const char *message;		/* said instead of PostgreSQL's, or NULL */
} SqlstateMapping;

static const SqlstateMapping sqlstate_mappings[] = {
	{"22P02", 400, "invalid_json", NULL},
	{"22021", 400, "invalid_json", NULL},
	{"22P05", 400, "unsupported_character",
	"JSON strings must not contain \\u0000: the NUL character cannot be stored"},
	{"54001", 400, "too_deeply_nested",
	"the JSON is nested too deeply"},
	{"42804", 400, "invalid_type", NULL},
	{"22023", 422, "invalid_value", NULL},
	{"22001", 422, "value_too_long", NULL},
	{"23514", 422, "invalid_value", NULL},
	{"28000", 401, "unauthorized", NULL},
	{"42501", 403, "forbidden", NULL},
	{"P0002", 404, "not_found", NULL},
	{"SP001", 409, "identity_conflict", NULL},
	{"SP002", 409, "identifier_suppressed", NULL},
	{"57014", 503, "unavailable", NULL},
	{"57P01", 503, "unavailable", NULL},
	{"57P02", 503, "unavailable", NULL},
	{"57P03", 503, "unavailable", NULL},
	{"53300", 503, "unavailable", NULL},
};

/*
 * The length of the UTF-8 sequence a byte starts (1 for ASCII, and for a
 * stray byte, which is then passed on as it is).
 */
static size_t
utf8_sequence_length(unsigned char lead)
{
	if (lead >= 0xF0 && lead <= 0xF7)
		return 4;
	if (lead >= 0xE0)
		return lead <= 0xEF ? 3 : 1;
	if (lead >= 0xC0)
		return 2;
	return 1;
}

/*
 * Append text to a JSON string being built in out (of size out_size, used
 * so far *used), escaping what JSON requires.  Stops quietly, on a
 * character boundary, when out is full: a message quoting a huge value is
 * cut, and stays valid UTF-8 and valid JSON.
 */
static void
json_escape_append(char *out, size_t out_size, size_t *used, const char *text)
{
	const unsigned char *c = (const unsigned char *) text;

	while (*c != '\0')
	{
		char		escaped[8];
		size_t		len;
		size_t		consumed = 1;

		if (*c == '"' || *c == '\\')
		{
			escaped[0] = '\\';
			escaped[1] = (char) *c;
			len = 2;
		}
		else if (*c == '\n')
		{
			memcpy(escaped, "\\n", 2);
			len = 2;
		}
		else if (*c < 0x20)
			len = (size_t) snprintf(escaped, sizeof(escaped), "\\u%04x", *c);
		else
		{
			size_t		i;

			len = utf8_sequence_length(*c);
			for (i = 1; i < len; i++)
			{
				if ((c[i] & 0xC0) != 0x80)
				{
					len = 1;
					break;
				}
			}
			memcpy(escaped, c, len);
			consumed = len;
		}

		if (*used + len + 1 > out_size)
			break;
		memcpy(out + *used, escaped, len);
		*used += len;
		c += consumed;
	}
	out[*used] = '\0';
}

/*
 * Queue an answer with a JSON body (copied), and the Location and Allow
 * headers when given.  Records the status for the access log.  While the
 * server stops, answers close their connection.
 */
enum MHD_Result
respond_json(struct MHD_Connection *connection, Request *request,
			 unsigned int status, const char *body, size_t body_len,
			 const char *location, const char *allow)
{
	struct MHD_Response *response;
	enum MHD_Result ret;

	response = MHD_create_response_from_buffer(body_len, (void *) body,
											   MHD_RESPMEM_MUST_COPY);
	if (response == NULL)
		return MHD_NO;

	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
							"application/json; charset=utf-8");
	if (location != NULL)
		MHD_add_response_header(response, MHD_HTTP_HEADER_LOCATION, location);
	if (allow != NULL)
		MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
	if (status == 401)
		MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
								"Bearer");
	if (atomic_load(&server_stopping))
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION,
								"close");

	ret = MHD_queue_response(connection, status, response);
	MHD_destroy_response(response);

	if (request != NULL)
	{
		request->status = status;
		request->answered = true;
	}
	return ret;
}

/*
 * Queue an error answer: {"error":{"code":code,"message":message}}.
 */
enum MHD_Result
respond_error(struct MHD_Connection *connection, Request *request,
			  unsigned int status, const char *code, const char *message,
			  const char *allow)
{
	char		body[2048];
	size_t		used = 0;

	used = (size_t) snprintf(body, sizeof(body),
							 "{\"error\":{\"code\":\"%s\",\"message\":\"",
							 code);
	json_escape_append(body, sizeof(body) - 4, &used, message);
	memcpy(body + used, "\"}}", 4);
	used += 3;

	return respond_json(connection, request, status, body, used, NULL, allow);
}

/*
 * Answer a statement that did not run: map its SQLSTATE through the table
 * above.  An unreachable database is a 503; an unexpected error a 500 whose
 * details are logged, never sent.
 */
enum MHD_Result
respond_db_error(struct MHD_Connection *connection, Request *request,
				 const DbResult *result)
{
	size_t		i;

	if (result->unavailable || strncmp(result->sqlstate, "08", 2) == 0)
		return respond_error(connection, request, 503, "unavailable",
							 "the database is unavailable, try again later",
							 NULL);

	for (i = 0; i < sizeof(sqlstate_mappings) / sizeof(sqlstate_mappings[0]);
		 i++)
	{
		const SqlstateMapping *mapping = &sqlstate_mappings[i];

		if (strcmp(mapping->sqlstate, result->sqlstate) != 0)
			continue;
		if (mapping->status >= 500)
			return respond_error(connection, request, mapping->status,
								 mapping->code,
								 "the database is unavailable, try again later",
								 NULL);
		if (mapping->message != NULL)
			return respond_error(connection, request, mapping->status,
								 mapping->code, mapping->message, NULL);
		return respond_error(connection, request, mapping->status,
							 mapping->code,
							 result->message != NULL ? result->message : "",
							 NULL);
	}

	log_line("internal error: sqlstate %s: %s", result->sqlstate,
			 result->message != NULL ? result->message : "(no message)");
	return respond_error(connection, request, 500, "internal_error",
						 "internal server error", NULL);
}
