/*
 * main.c
 *		simpleproduct-server: the REST API of simpleproduct, in front of
 *		PostgreSQL.
 *
 * Reads its settings from the environment and the command line (the
 * command line wins), starts libmicrohttpd with an internal pool of epoll
 * worker threads, and waits for SIGTERM or SIGINT.  On either it stops
 * accepting connections, lets the requests in flight finish (for at most
 * --grace seconds, after which their statements are cancelled), closes
 * everything and exits 0.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

ServerConfig server_config;
atomic_bool server_stopping = false;

static const char usage_text[] =
"simpleproduct-server: the REST API of the simpleproduct extension\n"
"\n"
"Usage: simpleproduct-server [options]\n"
"\n"
"Options (each also read from the environment variable shown):\n"
"  -l, --listen=HOST:PORT   address to listen on, IPv6 as [ADDR]:PORT;\n"
"                           port 0 picks a free one (SP_LISTEN,\n"
"                           default 127.0.0.1:8080)\n"
"  -d, --db=CONNINFO        libpq connection string or URI of the database,\n"
"                           as the API role (SP_DATABASE_URL; empty means\n"
"                           libpq's PG* variables and defaults)\n"
"  -t, --threads=N          worker threads, each with one database\n"
"                           connection (SP_THREADS, default 4)\n"
"  -b, --body-limit=BYTES   largest request body; larger ones get 413\n"
"                           (SP_BODY_LIMIT, default 1048576)\n"
"  -T, --timeout=SECONDS    close a connection silent this long, idle or\n"
"                           in the middle of a request; a request body\n"
"                           must also arrive within it in total\n"
"                           (SP_TIMEOUT, default 30)\n"
"  -g, --grace=SECONDS      on SIGTERM, wait this long for requests in\n"
"                           flight, then cancel their statements\n"
"                           (SP_GRACE, default 10)\n"
"  -h, --help               show this help and exit\n"
"\n"
"One access-log line per request goes to standard error: method, path,\n"
"status and duration.\n";

/*
 * Nanoseconds on the monotonic clock, for request durations.
 */
uint64_t
monotonic_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t) now.tv_sec * 1000000000u + (uint64_t) now.tv_nsec;
}

/*
 * Write one line to standard error, prefixed with the UTC time; one write
 * per line, so lines from different threads do not interleave.
 */
void
log_line(const char *format,...)
{
	char		line[1024];
	struct timespec now;
	struct tm	tm;
	size_t		used;
	va_list		args;
	int			len;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	used = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	used += (size_t) snprintf(line + used, sizeof(line) - used, ".%03ldZ ",
							  now.tv_nsec / 1000000);

	va_start(args, format);
	len = vsnprintf(line + used, sizeof(line) - used, format, args);
	va_end(args);
	if (len < 0)
		return;
	used += (size_t) len;
	if (used > sizeof(line) - 2)
		used = sizeof(line) - 2;

	/* libpq messages end with a newline of their own. */
	while (used > 0 && line[used - 1] == '\n')
		used--;
	line[used++] = '\n';
	if (write(STDERR_FILENO, line, used) < 0)
		return;
}

/*
 * Parse a positive number for option name, or exit with a message.
 */
static unsigned long long
parse_number(const char *name, const char *text, unsigned long long max)
{
	char	   *end;
	unsigned long long value;

	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value == 0 ||
		value > max || text[0] == '-')
	{
		fprintf(stderr, "simpleproduct-server: invalid %s: \"%s\"\n",
				name, text);
		exit(2);
	}
	return value;
}

/*
 * Replace a string setting, freeing the old value.
 */
static void
set_string(char **setting, const char *value)
{
	free(*setting);
	*setting = strdup(value);
	if (*setting == NULL)
	{
		fprintf(stderr, "simpleproduct-server: out of memory\n");
		exit(1);
	}
}

/*
 * Fill server_config: defaults, then the environment, then the flags.
 */
static void
read_config(int argc, char **argv)
{
	static const struct option options[] = {
		{"listen", required_argument, NULL, 'l'},
		{"db", required_argument, NULL, 'd'},
		{"threads", required_argument, NULL, 't'},
		{"body-limit", required_argument, NULL, 'b'},
		{"timeout", required_argument, NULL, 'T'},
		{"grace", required_argument, NULL, 'g'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *env;
	int			opt;

	set_string(&server_config.listen, "127.0.0.1:8080");
	set_string(&server_config.conninfo, "");
	server_config.threads = 4;
	server_config.body_limit = 1024 * 1024;
	server_config.timeout = 30;
	server_config.grace = 10;

	if ((env = getenv("SP_LISTEN")) != NULL && *env != '\0')
		set_string(&server_config.listen, env);
	if ((env = getenv("SP_DATABASE_URL")) != NULL)
		set_string(&server_config.conninfo, env);
	if ((env = getenv("SP_THREADS")) != NULL && *env != '\0')
		server_config.threads = parse_number("SP_THREADS", env, 1024);
	if ((env = getenv("SP_BODY_LIMIT")) != NULL && *env != '\0')
		server_config.body_limit = parse_number("SP_BODY_LIMIT", env,
												1ULL << 30);
	if ((env = getenv("SP_TIMEOUT")) != NULL && *env != '\0')
		server_config.timeout = parse_number("SP_TIMEOUT", env, 86400);
	if ((env = getenv("SP_GRACE")) != NULL && *env != '\0')
		server_config.grace = parse_number("SP_GRACE", env, 86400);

	while ((opt = getopt_long(argc, argv, "l:d:t:b:T:g:h", options,
							  NULL)) != -1)
	{
		switch (opt)
		{
			case 'l':
				set_string(&server_config.listen, optarg);
				break;
			case 'd':
				set_string(&server_config.conninfo, optarg);
				break;
			case 't':
				server_config.threads = parse_number("--threads", optarg,
													 1024);
				break;
			case 'b':
				server_config.body_limit = parse_number("--body-limit",
														optarg, 1ULL << 30);
				break;
			case 'T':
				server_config.timeout = parse_number("--timeout", optarg,
													 86400);
				break;
			case 'g':
				server_config.grace = parse_number("--grace", optarg, 86400);
				break;
			case 'h':
				fputs(usage_text, stdout);
				exit(0);
			default:
				fputs("Try \"simpleproduct-server --help\".\n", stderr);
				exit(2);
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "simpleproduct-server: unexpected argument \"%s\"\n",
				argv[optind]);
		exit(2);
	}
}

/*
 * Resolve the --listen address into addr; returns false (with a message)
 * when it is not HOST:PORT.
 */
static bool
resolve_listen(const char *listen, struct sockaddr_storage *addr,
			   bool *ipv6)
{
	char	   *host = strdup(listen);
	char	   *port;
	struct addrinfo hints;
	struct addrinfo *found = NULL;
	int			rc;

	if (host == NULL)
		return false;
	port = strrchr(host, ':');
	if (port == NULL || port == host || port[1] == '\0')
	{
		fprintf(stderr, "simpleproduct-server: --listen must be HOST:PORT, not \"%s\"\n",
				listen);
		free(host);
		return false;
	}
	*port++ = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']')
	{
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	rc = getaddrinfo(host, port, &hints, &found);
	if (rc != 0 || found == NULL)
	{
		fprintf(stderr, "simpleproduct-server: cannot listen on \"%s\": %s\n",
				listen, gai_strerror(rc));
		free(host);
		return false;
	}
	memcpy(addr, found->ai_addr, found->ai_addrlen);
	*ipv6 = found->ai_family == AF_INET6;
	freeaddrinfo(found);
	free(host);
	return true;
}

/*
 * Start the daemon, serve until SIGTERM or SIGINT, then stop gracefully.
 */
int
main(int argc, char **argv)
{
	struct sockaddr_storage addr;
	bool		ipv6 = false;
	sigset_t	stop_signals;
	struct MHD_Daemon *daemon;
	const union MHD_DaemonInfo *info;
	unsigned int flags;
	int			signal_number = 0;
	uint64_t	deadline;
	MHD_socket	listen_socket;

	read_config(argc, argv);
	memset(&addr, 0, sizeof(addr));
	if (!resolve_listen(server_config.listen, &addr, &ipv6))
		return 2;

	/*
	 * Block the stop signals before any thread starts, so that they all
	 * inherit the mask and only sigwait below sees the signals.
	 */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

	pool_init(server_config.conninfo);

	flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	if (ipv6)
		flags |= MHD_USE_IPv6;
	daemon = MHD_start_daemon(flags, 0, NULL, NULL, router_handle, NULL,
							  MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
							  MHD_OPTION_THREAD_POOL_SIZE,
							  server_config.threads,
							  MHD_OPTION_CONNECTION_TIMEOUT,
							  server_config.timeout,
							  MHD_OPTION_URI_LOG_CALLBACK, router_begin, NULL,
							  MHD_OPTION_NOTIFY_COMPLETED, router_completed,
							  NULL,
							  MHD_OPTION_END);
	if (daemon == NULL)
	{
		fprintf(stderr, "simpleproduct-server: cannot start on %s\n",
				server_config.listen);
		pool_shutdown();
		return 1;
	}
	info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
	log_line("listening on %.*s:%u with %u threads",
			 (int) (strrchr(server_config.listen, ':') -
					server_config.listen),
			 server_config.listen,
			 info != NULL ? (unsigned int) info->port : 0,
			 server_config.threads);

	while (sigwait(&stop_signals, &signal_number) != 0)
		;

	/* Stop accepting, let the requests in flight finish, then stop. */
	atomic_store(&server_stopping, true);
	log_line("received signal %d: finishing requests in flight",
			 signal_number);
	listen_socket = MHD_quiesce_daemon(daemon);
	if (listen_socket != MHD_INVALID_SOCKET)
		close(listen_socket);
	deadline = monotonic_ns() + (uint64_t) server_config.grace * 1000000000u;
	while (router_in_flight() > 0 && monotonic_ns() < deadline)
	{
		struct timespec pause = {0, 10 * 1000 * 1000};

		nanosleep(&pause, NULL);
	}

	/* Past the grace period, cancel the statements still running. */
	if (router_in_flight() > 0)
	{
		log_line("grace period over: cancelling %u requests",
				 router_in_flight());
		pool_cancel_all();
		deadline = monotonic_ns() + 5000000000u;
		while (router_in_flight() > 0 && monotonic_ns() < deadline)
		{
			struct timespec pause = {0, 10 * 1000 * 1000};

			nanosleep(&pause, NULL);
		}
	}
	MHD_stop_daemon(daemon);
	pool_shutdown();
	log_line("stopped");

	free(server_config.listen);
	free(server_config.conninfo);
	return 0;
}
