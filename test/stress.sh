#!/usr/bin/env bash
# test/stress.sh: identity resolution under load.
#
# Many pgbench clients call sp_identify and sp_feedback at once on a small
# set of hot identifiers, then the suite counts what SPEC.md forbids:
#
#   duplicates   more than one person holding one externalId or one email
#   errors       any error a client saw (unique violation, deadlock,
#                serialization failure, anything else): pgbench's failed
#                transactions and aborted clients
#   lost         property updates lost: every client patches its own key
#                ("c<client>") on a few fixed people, by externalId, by
#                email and by both, and logs each value it wrote in the same
#                transaction; afterwards each key must hold the last value
#                its client wrote
#   dropped      identifiers a call used that no person holds afterwards
#                (externalIds never go away; an email that moves or merges
#                always lands on someone)
#   orphans      people with neither identifier, feedback with no person
#
# Two groups of identifiers are hot at the same time:
#   fixed people p1..p4 (externalId pN, email pN@hot.example.com): only
#     patched and given feedback, through either identifier or both, so the
#     lost-update check can be exact;
#   churn identifiers x1..x6 and e1..e8@churn.example.com, combined at
#     random: new people, merges, email changes and email moves; and fresh
#     externalIds given with a hot email, which claim it from an email-only
#     person or take it from one that has another externalId.
#
# Settings (environment): SP_PGHOST, SP_PGPORT, SP_PGUSER, SP_PGBIN (from
# scripts/test); SP_STRESS_CLIENTS (default 16), SP_STRESS_SECONDS (default
# 15), SP_STRESS_KEEP=1 keeps the database for a look afterwards.
#
# Exits 0 when every count is zero, 1 with a message naming each failure.

set -euo pipefail

: "${SP_PGHOST:?set SP_PGHOST (scripts/test does)}"
: "${SP_PGPORT:?set SP_PGPORT}"
: "${SP_PGUSER:=postgres}"
: "${SP_PGBIN:=/usr/lib/postgresql/15/bin}"
CLIENTS="${SP_STRESS_CLIENTS:-16}"
SECONDS_TO_RUN="${SP_STRESS_SECONDS:-15}"
DB="sp_stress_$$"
WORK="$(mktemp -d)"

# Print a line on stderr, prefixed with the suite's name.
say() {
	printf 'stress: %s\n' "$*" >&2
}

# Run SQL on the stress database, quietly, stopping at the first error.
# Usage: sql [-t] < script   or   sql -c "..."
sql() {
	"$SP_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SP_PGHOST" \
		-p "$SP_PGPORT" -U "$SP_PGUSER" -d "$DB" "$@"
}

# One number from a query.
count() {
	sql -At -c "$1"
}

# Drop the database (unless kept) and the scratch folder.
cleanup() {
	if [ "${SP_STRESS_KEEP:-}" = 1 ]; then
		say "kept database $DB"
	else
		"$SP_PGBIN/dropdb" -h "$SP_PGHOST" -p "$SP_PGPORT" \
			-U "$SP_PGUSER" --if-exists "$DB" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# The database, the extension, the write log and the fixed people.
setup_database() {
	"$SP_PGBIN/createdb" -h "$SP_PGHOST" -p "$SP_PGPORT" -U "$SP_PGUSER" \
		"$DB"
	sql <<'EOF'
CREATE EXTENSION simpleproduct;
CREATE SEQUENCE stress_value;
-- Every property value a client wrote on a fixed person (k = 1..4).
CREATE TABLE stress_writes (client int, k int, value bigint,
	nested boolean NOT NULL DEFAULT false);
-- Every churn identifier a call used.
CREATE TABLE stress_used (external_id text, email text);
SELECT simpleproduct.sp_identify(jsonb_build_object(
	'externalId', 'p' || k, 'email', 'p' || k || '@hot.example.com',
	'properties', jsonb_build_object('seed', k)))
FROM generate_series(1, 4) k \g /dev/null
EOF
}

# The pgbench scripts, one per kind of call, with their weights.
write_scripts() {
	# A patch of a fixed person by externalId only.
	cat > "$WORK/fixed_external_id.sql" <<'EOF'
\set k random(1, 4)
BEGIN;
SELECT nextval('stress_value') AS value \gset
SELECT simpleproduct.sp_identify(jsonb_build_object(
	'externalId', 'p' || :k,
	'properties', jsonb_build_object('c' || :client_id, :value)));
INSERT INTO stress_writes VALUES (:client_id, :k, :value);
COMMIT;
EOF
	# A patch of a fixed person by email only (written unnormalised).
	cat > "$WORK/fixed_email.sql" <<'EOF'
\set k random(1, 4)
BEGIN;
SELECT nextval('stress_value') AS value \gset
SELECT simpleproduct.sp_identify(jsonb_build_object(
	'email', ' P' || :k || '@Hot.Example.COM ',
	'properties', jsonb_build_object('c' || :client_id, :value,
		'nested', jsonb_build_object('c' || :client_id, :value))));
INSERT INTO stress_writes VALUES (:client_id, :k, :value, true);
COMMIT;
EOF
	# A patch of a fixed person by both identifiers (A = B).
	cat > "$WORK/fixed_both.sql" <<'EOF'
\set k random(1, 4)
BEGIN;
SELECT nextval('stress_value') AS value \gset
SELECT simpleproduct.sp_identify(jsonb_build_object(
	'externalId', 'p' || :k, 'email', 'p' || :k || '@hot.example.com',
	'properties', jsonb_build_object('c' || :client_id, :value)));
INSERT INTO stress_writes VALUES (:client_id, :k, :value);
COMMIT;
EOF
	# Feedback on a fixed person, by externalId or by email.
	cat > "$WORK/fixed_feedback.sql" <<'EOF'
\set k random(1, 4)
\set by random(1, 2)
SELECT simpleproduct.sp_feedback(jsonb_strip_nulls(jsonb_build_object(
	'externalId', CASE WHEN :by = 1 THEN 'p' || :k END,
	'email', CASE WHEN :by = 2 THEN 'p' || :k || '@hot.example.com' END,
	'content', 'hot feedback from client ' || :client_id)));
EOF
	# Churn by externalId only: a new person, or an update.
	cat > "$WORK/churn_external_id.sql" <<'EOF'
\set j random(1, 6)
BEGIN;
SELECT simpleproduct.sp_identify(jsonb_build_object(
	'externalId', 'x' || :j,
	'properties', jsonb_build_object('c' || :client_id, :j)));
INSERT INTO stress_used VALUES ('x' || :j, NULL);
COMMIT;
EOF
	# Churn by email only: a new email-only person, or an update.
	cat > "$WORK/churn_email.sql" <<'EOF'
\set i random(1, 8)
BEGIN;
SELECT simpleproduct.sp_identify(jsonb_build_object(
	'email', 'e' || :i || '@churn.example.com',
	'properties', jsonb_build_object('c' || :client_id, :i)));
INSERT INTO stress_used VALUES (NULL, 'e' || :i || '@churn.example.com');
COMMIT;
EOF
	# Churn by both, paired at random: create, claim, email change,
	# merge, email moved.
	cat > "$WORK/churn_both.sql" <<'EOF'
\set j random(1, 6)
\set i random(1, 8)
BEGIN;
SELECT simpleproduct.sp_identify(jsonb_build_object(
	'externalId', 'x' || :j, 'email', 'e' || :i || '@churn.example.com',
	'properties', jsonb_build_object('c' || :client_id, :i)));
INSERT INTO stress_used
	VALUES ('x' || :j, 'e' || :i || '@churn.example.com');
COMMIT;
EOF
	# A fresh externalId with a hot email: a claim of an email-only
	# person, or the email moves to a new person.
	cat > "$WORK/churn_claim.sql" <<'EOF'
\set i random(1, 8)
BEGIN;
SELECT nextval('stress_value') AS fresh \gset
SELECT simpleproduct.sp_identify(jsonb_build_object(
	'externalId', 'n' || :fresh, 'email', 'e' || :i || '@churn.example.com',
	'properties', jsonb_build_object('c' || :client_id, :i)));
INSERT INTO stress_used
	VALUES ('n' || :fresh, 'e' || :i || '@churn.example.com');
COMMIT;
EOF
	# Churn feedback by externalId, email or both.
	cat > "$WORK/churn_feedback.sql" <<'EOF'
\set j random(1, 6)
\set i random(1, 8)
\set by random(1, 3)
BEGIN;
SELECT simpleproduct.sp_feedback(jsonb_strip_nulls(jsonb_build_object(
	'externalId', CASE WHEN :by <> 2 THEN 'x' || :j END,
	'email', CASE WHEN :by <> 1 THEN 'e' || :i || '@churn.example.com' END,
	'content', 'churn feedback from client ' || :client_id)));
INSERT INTO stress_used VALUES (
	CASE WHEN :by <> 2 THEN 'x' || :j END,
	CASE WHEN :by <> 1 THEN 'e' || :i || '@churn.example.com' END);
COMMIT;
EOF
}

# Run pgbench; its summary goes to $WORK/pgbench.out, its errors to
# $WORK/pgbench.err.  Sets PGBENCH_STATUS.
run_pgbench() {
	PGBENCH_STATUS=0
	"$SP_PGBIN/pgbench" -n -h "$SP_PGHOST" -p "$SP_PGPORT" \
		-U "$SP_PGUSER" -c "$CLIENTS" -j 4 -T "$SECONDS_TO_RUN" \
		--failures-detailed --verbose-errors \
		-f "$WORK/fixed_external_id.sql@3" \
		-f "$WORK/fixed_email.sql@3" \
		-f "$WORK/fixed_both.sql@1" \
		-f "$WORK/fixed_feedback.sql@2" \
		-f "$WORK/churn_external_id.sql@2" \
		-f "$WORK/churn_email.sql@2" \
		-f "$WORK/churn_both.sql@4" \
		-f "$WORK/churn_claim.sql@2" \
		-f "$WORK/churn_feedback.sql@2" \
		"$DB" > "$WORK/pgbench.out" 2> "$WORK/pgbench.err" ||
		PGBENCH_STATUS=$?
}

# The first number on the line of pgbench's summary that starts with $1,
# or 0 when there is no such line.
summary_number() {
	local line

	line="$(grep -m1 "^$1" "$WORK/pgbench.out" || true)"
	if [[ "$line" =~ :\ *([0-9]+) ]]; then
		echo "${BASH_REMATCH[1]}"
	else
		echo 0
	fi
}

main() {
	local failures=() failure processed failed serialization deadlock aborted
	local other_errors duplicates lost dropped orphans orphan_feedback
	local fixed_wrong crashed=0

	say "database $DB, $CLIENTS clients for ${SECONDS_TO_RUN}s"
	setup_database
	write_scripts
	run_pgbench

	# A crashed server ends every client: say so plainly, and wait for
	# it to come back so that the counts below can still be read.
	if grep -q 'terminated abnormally\|server closed the connection' \
		"$WORK/pgbench.err"; then
		say "FAIL: the server closed connections during the run (a crash?)"
		grep -m3 'terminated abnormally\|server closed' "$WORK/pgbench.err" \
			>&2 || true
		"$SP_PGBIN/pg_isready" -q -h "$SP_PGHOST" -p "$SP_PGPORT" -t 60 ||
			true
		crashed=1
	fi

	processed="$(summary_number 'number of transactions actually processed')"
	failed="$(summary_number 'number of failed transactions')"
	serialization="$(summary_number 'number of serialization failures')"
	deadlock="$(summary_number 'number of deadlock failures')"
	aborted="$(grep -c 'aborted in command' "$WORK/pgbench.err" || true)"
	other_errors="$(grep -c 'ERROR' "$WORK/pgbench.err" || true)"

	# More than one person per identifier (the unique keys should make
	# this impossible; counted anyway, case-insensitively for emails).
	duplicates="$(count "
		SELECT coalesce(sum(n - 1), 0) FROM (
			SELECT count(*) AS n FROM simpleproduct.people
			WHERE external_id IS NOT NULL GROUP BY workspace_id, external_id
			UNION ALL
			SELECT count(*) FROM simpleproduct.people
			WHERE email IS NOT NULL GROUP BY workspace_id, lower(email)
		) c WHERE n > 1")"

	# Each client's last write on each fixed person, missing or older
	# in the person's properties: the top-level key, and the nested copy
	# that only the patches by email write.
	lost="$(count "
		SELECT count(*) FROM (
			SELECT client, k, max(value) AS value
			FROM stress_writes GROUP BY client, k
		) w
		LEFT JOIN simpleproduct.people p ON p.external_id = 'p' || w.k
		WHERE (p.properties ->> ('c' || w.client)) IS DISTINCT FROM
			w.value::text")"
	lost=$((lost + $(count "
		SELECT count(*) FROM (
			SELECT client, k, max(value) AS value
			FROM stress_writes WHERE nested GROUP BY client, k
		) w
		LEFT JOIN simpleproduct.people p ON p.external_id = 'p' || w.k
		WHERE (p.properties -> 'nested' ->> ('c' || w.client))
			IS DISTINCT FROM w.value::text")))

	# The fixed people keep their identifiers, one person each.
	fixed_wrong="$(count "
		SELECT 4 - count(*) FROM simpleproduct.people
		WHERE external_id ~ '^p[1-4]$'
		AND email = external_id || '@hot.example.com'")"

	# Identifiers used by a committed call that no person holds: an
	# externalId never goes away, and an email only through an email
	# change (a move or a merge hands it to another person).
	dropped="$(count "
		SELECT count(*) FROM (
			SELECT DISTINCT external_id AS id FROM stress_used
			WHERE external_id IS NOT NULL
			EXCEPT SELECT external_id FROM simpleproduct.people
		) x")"
	dropped=$((dropped + $(count "
		SELECT count(*) FROM (
			SELECT DISTINCT email FROM stress_used WHERE email IS NOT NULL
			EXCEPT SELECT email FROM simpleproduct.people
			EXCEPT SELECT before ->> 'email'
			FROM simpleproduct.identity_history
			WHERE event = 'email_change'
		) x")))

	orphans="$(count "
		SELECT count(*) FROM simpleproduct.people
		WHERE external_id IS NULL AND email IS NULL")"
	orphan_feedback="$(count "
		SELECT count(*) FROM simpleproduct.feedback
		WHERE person_id IS NULL")"

	echo "pgbench: $processed transactions, $failed failed" \
		"($serialization serialization, $deadlock deadlock)," \
		"$aborted clients aborted, exit status $PGBENCH_STATUS"
	sql -c "
		SELECT
			(SELECT count(*) FROM simpleproduct.people) AS people,
			(SELECT count(*) FROM simpleproduct.feedback) AS feedback,
			(SELECT count(*) FROM stress_writes) AS fixed_patches,
			(SELECT count(*) FROM simpleproduct.identity_history
			 WHERE event = 'claim') AS claims,
			(SELECT count(*) FROM simpleproduct.identity_history
			 WHERE event = 'merge') AS merges,
			(SELECT count(*) FROM simpleproduct.identity_history
			 WHERE event = 'email_change') AS email_changes,
			(SELECT count(*) FROM simpleproduct.identity_history
			 WHERE event = 'email_moved') AS email_moves"
	echo "duplicates=$duplicates errors=$((failed + aborted))" \
		"lost_updates=$lost fixed_people_wrong=$fixed_wrong" \
		"dropped_identifiers=$dropped people_without_identifier=$orphans" \
		"feedback_without_person=$orphan_feedback"

	if [ "$PGBENCH_STATUS" -ne 0 ] || [ "$aborted" -ne 0 ] ||
		[ "$failed" -ne 0 ] || [ "$other_errors" -ne 0 ]; then
		failures+=("clients saw errors (pgbench exit $PGBENCH_STATUS, $failed failed transactions, $aborted aborted clients); first errors above")
		grep -m5 'ERROR\|DETAIL\|aborted' "$WORK/pgbench.err" >&2 || true
	fi
	[ "$crashed" -eq 0 ] ||
		failures+=("the server crashed or closed connections during the run")
	if [ "$processed" -lt "$CLIENTS" ]; then
		failures+=("only $processed transactions ran")
	fi
	[ "$duplicates" -eq 0 ] ||
		failures+=("$duplicates duplicate people for one identifier")
	[ "$lost" -eq 0 ] ||
		failures+=("$lost client property keys lost or stale")
	[ "$fixed_wrong" -eq 0 ] ||
		failures+=("$fixed_wrong fixed people lost their identifiers")
	[ "$dropped" -eq 0 ] ||
		failures+=("$dropped identifiers used but held by no person")
	[ "$orphans" -eq 0 ] ||
		failures+=("$orphans people with neither externalId nor email")
	[ "$orphan_feedback" -eq 0 ] ||
		failures+=("$orphan_feedback feedback rows lost their person")

	if [ "${#failures[@]}" -gt 0 ]; then
		for failure in "${failures[@]}"; do
			say "FAIL: $failure"
		done
		echo "--- pgbench output ---" >&2
		cat "$WORK/pgbench.out" >&2
		exit 1
	fi
	say "ok: no duplicates, no errors, no lost updates"
}

main "$@"
