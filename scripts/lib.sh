# shellcheck shell=bash
# scripts/lib.sh: helpers shared by scripts/setup, scripts/test and scripts/run.
#
# Sourced, never run.  It defines where things are (the project root, the
# PostgreSQL binaries), how to build and install the extension, and how to
# create, start and stop a private PostgreSQL cluster owned by the postgres
# user.  Every cluster made here listens on a unix socket in a folder of our
# own; scripts/run additionally listens on 127.0.0.1, never on another
# address.

# The project root: the folder above scripts/.
SP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The pg_config to build against and the server binaries it points at.
PG_CONFIG="${PG_CONFIG:-pg_config}"

# The command prefix that runs a command as the postgres user.
SP_RUNAS_ARGV=(runuser -u postgres --)

# Builds and test runs on one machine share one PostgreSQL installation
# (make install) and the tree's results/ folders: they take turns through
# this lock, held on file descriptor 9.
SP_LOCK_FILE="${SP_LOCK_FILE:-/tmp/simpleproduct-build.lock}"

# Print a progress line on stderr, prefixed with the script's name.
sp_log() {
	printf '%s: %s\n' "$(basename "$0")" "$*" >&2
}

# Print an error on stderr and leave with status 1.
sp_die() {
	printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2
	exit 1
}

# Refuse to go on unless we are root: initdb and pg_ctl run through runuser,
# and make install writes into the PostgreSQL installation.
sp_require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		sp_die "run me as root (I use runuser to act as the postgres user)"
	fi
}

# Set SP_PGBIN to the folder of the PostgreSQL server binaries (initdb,
# pg_ctl, psql), taken from PG_CONFIG unless SP_PGBIN is already set.
sp_find_pgbin() {
	if [ -z "${SP_PGBIN:-}" ]; then
		SP_PGBIN="$("$PG_CONFIG" --bindir 2>/dev/null)" ||
			SP_PGBIN=/usr/lib/postgresql/15/bin
	fi
	[ -x "$SP_PGBIN/initdb" ] ||
		sp_die "no initdb in $SP_PGBIN (set SP_PGBIN or PG_CONFIG)"
	export SP_PGBIN
}

# Run a command quietly, keeping its output in a log file; print the log
# and return the command's status if it fails.  Usage: sp_quiet LABEL CMD...
sp_quiet() {
	local label="$1" log status
	shift
	log="$(mktemp)"
	if "$@" >"$log" 2>&1; then
		rm -f "$log"
		return 0
	else
		status=$?
	fi
	sp_log "$label failed (status $status); its output:"
	cat "$log" >&2
	rm -f "$log"
	return "$status"
}

# Build and install the extension (and whatever else the Makefile builds)
# with PG_CONFIG.  Quiet on success; shows make's output on failure.
sp_build_and_install() {
	sp_log "building and installing (make, make install; PG_CONFIG=$PG_CONFIG)"
	sp_quiet "make" make -C "$SP_ROOT" PG_CONFIG="$PG_CONFIG" || return 1
	sp_quiet "make install" \
		make -C "$SP_ROOT" PG_CONFIG="$PG_CONFIG" install || return 1
}

# Create a cluster in DATADIR (which must not exist yet; its parent must be
# owned by postgres) with trust authentication for local connections.
# Usage: sp_initdb DATADIR
sp_initdb() {
	local datadir="$1" locale_args=(--no-locale)

	# A UTF-8 locale, so that lower() and friends treat non-ASCII text the
	# way a production server would; C.UTF-8 is built into Debian's glibc.
	if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then
		locale_args=(--locale=C.UTF-8)
	fi

	sp_quiet "initdb" "${SP_RUNAS_ARGV[@]}" "$SP_PGBIN/initdb" \
		--pgdata="$datadir" --username=postgres --auth=trust \
		--encoding=UTF8 "${locale_args[@]}"
}

# Start the cluster in DATADIR, logging to LOGFILE, and wait until it accepts
# connections.  Prints the end of the server log if it does not come up.
# Usage: sp_pg_start DATADIR LOGFILE
sp_pg_start() {
	local datadir="$1" logfile="$2"

	if ! "${SP_RUNAS_ARGV[@]}" "$SP_PGBIN/pg_ctl" --pgdata="$datadir" \
		--log="$logfile" --wait --timeout=60 --silent start >/dev/null; then
		sp_log "the server did not start; end of $logfile:"
		tail -n 30 "$logfile" >&2 || true
		return 1
	fi
}

# Stop the cluster in DATADIR if it is running: a fast shutdown, then an
# immediate one if the fast one does not finish in time.
# Usage: sp_pg_stop DATADIR
sp_pg_stop() {
	local datadir="$1"

	sp_pg_running "$datadir" || return 0
	"${SP_RUNAS_ARGV[@]}" "$SP_PGBIN/pg_ctl" --pgdata="$datadir" \
		--mode=fast --wait --timeout=30 --silent stop >/dev/null 2>&1 ||
		"${SP_RUNAS_ARGV[@]}" "$SP_PGBIN/pg_ctl" --pgdata="$datadir" \
			--mode=immediate --wait --timeout=30 --silent stop \
			>/dev/null 2>&1
}

# True when a server is running on DATADIR.
sp_pg_running() {
	local datadir="$1"

	[ -f "$datadir/postmaster.pid" ] || return 1
	"${SP_RUNAS_ARGV[@]}" "$SP_PGBIN/pg_ctl" --pgdata="$datadir" \
		status >/dev/null 2>&1
}

# Take the machine-wide build lock, waiting up to SP_LOCK_WAIT seconds
# (default 1200) for another scripts/test or scripts/run to finish with it.
# Long-lived children (the postmaster, suites) must be started with 9>&-
# so that they do not keep holding it.
sp_take_lock() {
	exec 9>>"$SP_LOCK_FILE"
	if ! flock --nonblock 9; then
		sp_log "waiting for another build or test run (lock $SP_LOCK_FILE)"
		flock --wait "${SP_LOCK_WAIT:-1200}" 9 ||
			sp_die "gave up waiting for $SP_LOCK_FILE"
	fi
}

# Let go of the build lock.
sp_release_lock() {
	exec 9>&-
}
