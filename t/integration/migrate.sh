#!/bin/bash
# t/integration/migrate.sh - `bellhop-search migrate` against a real
# PostgreSQL (a private cluster from scripts/pg.sh in a temporary
# directory, stopped on exit whatever happens):
#  - applies NNN_*.sql in order, records name and SHA-256 in bh_migrations;
#  - a second run applies nothing; a new file is applied;
#  - an edited applied file is refused, naming it, and nothing after it
#    is applied;
#  - a failing file is rolled back as a whole; a file that commits by
#    itself and a repeated number are refused;
#  - 8 concurrent runs on a fresh database apply each migration once;
#  - a bad database URL fails fast without logging its password;
#  - the repository's own sql/search migrations apply to a fresh database.
#
# Run by `make check` (BH_SRCDIR, BH_BUILDDIR set), or by hand:
#   BH_BUILDDIR=/path/to/build t/integration/migrate.sh
set -u

BH_SRCDIR=${BH_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BH_BUILDDIR=${BH_BUILDDIR:-$BH_SRCDIR/build}
BIN=$BH_BUILDDIR/handlers/search/bellhop-search

# shellcheck source=../../scripts/pg.sh
. "$BH_SRCDIR/scripts/pg.sh"

PASSED=0
FAILED=0
FINISHED=

pass() {
	PASSED=$((PASSED + 1))
	printf 'ok - %s\n' "$1"
}

# fail NAME [DETAIL...]
fail() {
	local name=$1
	shift
	FAILED=$((FAILED + 1))
	printf 'not ok - %s\n' "$name"
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" | sed -e 's/^/#   /' | head -n 40
	fi
}

# expect NAME CMD...: a check that passes when CMD exits 0.
expect() {
	local name=$1
	shift
	if "$@"; then
		pass "$name"
	else
		fail "$name" "false: $*" "last run: exit $RC; its stderr:" \
			"$(tail -n 15 "$ERR" 2>/dev/null)"
	fi
}

# expect_eq NAME WANT GOT
expect_eq() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1" "expected: $2" "got:      $3" "last run: exit $RC; its stderr:" \
			"$(tail -n 15 "$ERR" 2>/dev/null)"
	fi
}

finish() {
	FINISHED=1
	printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
	[ "$FAILED" -eq 0 ]
	exit
}

cleanup() {
	local rc=$?
	# a signal may land while a command's output is redirected
	exec 1>&3 2>&4
	if [ -z "$FINISHED" ]; then
		fail "the test ended early (exit $rc)"
		printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
		rc=1
	fi
	[ -n "${PG:-}" ] && bh_pg_stop "$PG" immediate
	if [ "$FAILED" -eq 0 ]; then
		rm -rf "$TMP"
	else
		printf '# kept %s for inspection\n' "$TMP"
		[ -f "$PG/postgres.log" ] && tail -n 20 "$PG/postgres.log" | sed -e 's/^/#   /'
	fi
	exit "$rc"
}

exec 3>&1 4>&2
TMP=$(mktemp -d /tmp/bh-migrate-test.XXXXXX) || exit 99
chmod 755 "$TMP" # the cluster's owner (postgres) must traverse it
PG=
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [ ! -x "$BIN" ]; then
	fail "the service is built: $BIN (run make, or set BH_BUILDDIR)"
	finish
fi
PG=$TMP/pg
mkdir -p "$PG"
# pg_ctl, run as the owner, writes its log in the cluster directory
[ "$(id -u)" = 0 ] && chown postgres: "$PG"
if bh_pg_init "$PG" && bh_pg_start "$PG"; then
	pass "private PostgreSQL started"
else
	fail "private PostgreSQL started"
	finish
fi

ERR=$TMP/err
RC=

# run_migrate DB SQL_DIR [URL]: `bellhop-search migrate` on database DB
# with BH_SQL_DIR=SQL_DIR (or on URL); exit status in RC, stderr in $ERR.
# Other BH_* settings from the caller's environment are dropped.
run_migrate() {
	local db=$1 sqldir=$2 url=${3:-}
	[ -n "$url" ] || url=$(bh_pg_conninfo "$PG" "$db")
	(
		for v in $(compgen -e | grep '^BH_'); do unset "$v"; done
		BH_DATABASE_URL=$url BH_SQL_DIR=$sqldir BH_LOG_LEVEL=info \
			exec timeout -k 5 60 "$BIN" migrate
	) >"$TMP/out" 2>"$ERR"
	RC=$?
	cat "$ERR" >>"$TMP/all.err"
}

# q DB SQL: one value from a query, as the superuser.
q() {
	bh_pg_psql "$PG" "$1" -tA -c "$2" 2>&1
}

# The SHA-256 of files, space-separated, in the order given.
sha256_of() {
	sha256sum "$@" | awk '{ print $1 }' | paste -sd ' ' -
}

recorded() {
	q "$1" "SELECT coalesce(string_agg(version || ':' || name, ',' ORDER BY version), '') FROM bh_migrations"
}

# ---------------------------------------------------------------- basics

DB=bellhop_search
bh_pg_create_db "$PG" "$DB" >/dev/null || { fail "database $DB created"; finish; }
SQL=$TMP/sql
M=$SQL/search
mkdir -p "$M"

cat >"$M/001_first.sql" <<'EOF'
-- the first migration
CREATE TABLE t_one (id int PRIMARY KEY, label text NOT NULL);
INSERT INTO t_one VALUES (1, 'one');
EOF
cat >"$M/002_second.sql" <<'EOF'
CREATE TABLE t_two (id int PRIMARY KEY REFERENCES t_one (id));
INSERT INTO t_two VALUES (1);
EOF
echo "not a migration" >"$M/README"
echo "SELECT 1/0;" >"$M/notes.sql"
cp "$M/001_first.sql" "$TMP/001_first.sql.orig"

run_migrate "$DB" "$SQL"
expect_eq "first run exits 0" 0 "$RC"
expect_eq "t_one and t_two exist" t \
	"$(q "$DB" "SELECT to_regclass('t_one') IS NOT NULL AND to_regclass('t_two') IS NOT NULL")"
expect_eq "bh_migrations records 001 and 002 by number and file name" \
	"1:001_first.sql,2:002_second.sql" "$(recorded "$DB")"
expect_eq "recorded checksums are the files' SHA-256 (as sha256sum computes it)" \
	"$(sha256_of "$M/001_first.sql" "$M/002_second.sql")" \
	"$(q "$DB" "SELECT string_agg(checksum, ' ' ORDER BY version) FROM bh_migrations")"
expect_eq "applied_at is set on every row" 0 \
	"$(q "$DB" "SELECT count(*) FROM bh_migrations WHERE applied_at IS NULL OR applied_at > now()")"
expect "the log names each applied file" \
	grep -q '001_first.sql' "$ERR"
expect "the log names the second applied file" \
	grep -q '002_second.sql' "$ERR"
expect "README and notes.sql were not applied (notes.sql would divide by zero)" \
	test "$(recorded "$DB")" = "1:001_first.sql,2:002_second.sql"

BEFORE=$(q "$DB" "SELECT string_agg(version || '@' || applied_at, ',' ORDER BY version) FROM bh_migrations")
run_migrate "$DB" "$SQL"
expect_eq "second run exits 0" 0 "$RC"
expect_eq "second run applies nothing: bh_migrations unchanged, applied_at too" \
	"$BEFORE" \
	"$(q "$DB" "SELECT string_agg(version || '@' || applied_at, ',' ORDER BY version) FROM bh_migrations")"
expect_eq "second run did not run 001 again (t_one still has one row)" 1 \
	"$(q "$DB" "SELECT count(*) FROM t_one")"
expect "second run logs no applied migration" \
	bash -c "! grep -q 'applied migration' '$ERR'"

cat >"$M/003_third.sql" <<'EOF'
CREATE TABLE t_three (id int);
ALTER TABLE t_one ADD COLUMN note text;
EOF
run_migrate "$DB" "$SQL"
expect_eq "a new 003 is applied (exit 0)" 0 "$RC"
expect_eq "003's effects are there" t \
	"$(q "$DB" "SELECT to_regclass('t_three') IS NOT NULL AND EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 't_one' AND column_name = 'note')")"
expect_eq "bh_migrations records 001, 002, 003" \
	"1:001_first.sql,2:002_second.sql,3:003_third.sql" "$(recorded "$DB")"
expect "the log names 003 as applied and not 001 or 002" \
	bash -c "grep -q 'applied migration.*003_third.sql' '$ERR' && ! grep -q 'applied migration.*00[12]_' '$ERR'"

# ----------------------------------------------------- an edited migration

OLD_SUM=$(sha256_of "$M/001_first.sql")
printf -- '-- an innocent-looking edit\n' >>"$M/001_first.sql"
NEW_SUM=$(sha256_of "$M/001_first.sql")
cat >"$M/004_after_edit.sql" <<'EOF'
CREATE TABLE t_four (id int);
EOF
run_migrate "$DB" "$SQL"
expect "an edited 001 makes migrate exit non-zero" test "$RC" -ne 0
expect "stderr names 001's file" grep -q '001_first.sql' "$ERR"
expect "stderr gives the recorded and the current checksum" \
	bash -c "grep -q '$OLD_SUM' '$ERR' && grep -q '$NEW_SUM' '$ERR'"
expect "stderr says applied migrations must never be edited" \
	grep -qi 'never be edited' "$ERR"
expect_eq "nothing applied after the edited file (no t_four, still 3 rows)" \
	"f|1:001_first.sql,2:002_second.sql,3:003_third.sql" \
	"$(q "$DB" "SELECT to_regclass('t_four') IS NOT NULL")|$(recorded "$DB")"

cp "$TMP/001_first.sql.orig" "$M/001_first.sql"
rm -f "$M/004_after_edit.sql"
run_migrate "$DB" "$SQL"
expect_eq "with 001 restored, migrate succeeds again" 0 "$RC"

# ------------------------------------------------------- a failing migration

cat >"$M/004_broken.sql" <<'EOF'
CREATE TABLE t_partial (id int);
INSERT INTO no_such_table VALUES (1);
CREATE TABLE t_never (id int);
EOF
run_migrate "$DB" "$SQL"
expect "a 004 failing in its second statement makes migrate exit non-zero" \
	test "$RC" -ne 0
expect "stderr names 004's file and PostgreSQL's message" \
	bash -c "grep -q '004_broken.sql' '$ERR' && grep -q 'no_such_table' '$ERR'"
expect "stderr points at line 2 of the file" grep -q 'line 2' "$ERR"
expect_eq "the effects of 004's first statement are absent (rolled back)" f \
	"$(q "$DB" "SELECT to_regclass('t_partial') IS NOT NULL OR to_regclass('t_never') IS NOT NULL")"
expect_eq "004 is not recorded" \
	"1:001_first.sql,2:002_second.sql,3:003_third.sql" "$(recorded "$DB")"
rm -f "$M/004_broken.sql"

cat >"$M/004_commits.sql" <<'EOF'
CREATE TABLE t_committed (id int);
COMMIT;
EOF
run_migrate "$DB" "$SQL"
expect "a file holding its own COMMIT is refused (exit non-zero)" test "$RC" -ne 0
expect "stderr names it and says migrations must not manage transactions" \
	bash -c "grep -q '004_commits.sql' '$ERR' && grep -q 'must not manage transactions' '$ERR'"
expect_eq "it is not recorded" \
	"1:001_first.sql,2:002_second.sql,3:003_third.sql" "$(recorded "$DB")"
rm -f "$M/004_commits.sql"

cat >"$M/3_again.sql" <<'EOF'
CREATE TABLE t_dup (id int);
EOF
run_migrate "$DB" "$SQL"
expect "two files numbered 3 are refused (exit non-zero)" test "$RC" -ne 0
expect "stderr names both files" \
	bash -c "grep -q '003_third.sql' '$ERR' && grep -q '3_again.sql' '$ERR'"
expect_eq "nothing applied (no t_dup)" f \
	"$(q "$DB" "SELECT to_regclass('t_dup') IS NOT NULL")"
rm -f "$M/3_again.sql"

# ----------------------------------------------------- a bad database URL

# the secret must not reach the logs, whatever libpq makes of it
SECRET=s3cr3t-Pw-7781
START=$(date +%s%N)
run_migrate "" "$SQL" "host=$PG/sock dbname=no_such_db user=no_such_user password=$SECRET connect_timeout=2"
ELAPSED_MS=$((($(date +%s%N) - START) / 1000000))
expect "an unreachable database makes migrate exit non-zero" test "$RC" -ne 0
expect "... within 5 s (took ${ELAPSED_MS} ms)" test "$ELAPSED_MS" -lt 5000
expect "... and stderr does not hold the password" bash -c "! grep -q '$SECRET' '$ERR' '$TMP/out'"
run_migrate "" "$SQL" "postgresql://no_such_user:$SECRET@/db?host=$PG/sock&bogus_option=%zz"
expect "a malformed URI makes migrate exit non-zero" test "$RC" -ne 0
expect "... and stderr does not hold the password" bash -c "! grep -q '$SECRET' '$ERR' '$TMP/out'"

# ------------------------------------------------------------ concurrency

CDB=bellhop_conc
bh_pg_create_db "$PG" "$CDB" >/dev/null || { fail "database $CDB created"; finish; }
CSQL=$TMP/sqlc
mkdir -p "$CSQL/search"
cat >"$CSQL/search/001_log.sql" <<'EOF'
CREATE TABLE applied_log (n int NOT NULL);
INSERT INTO applied_log VALUES (1);
-- widen the window in which the other runs wait
SELECT pg_sleep(0.5);
EOF
cat >"$CSQL/search/002_more.sql" <<'EOF'
INSERT INTO applied_log VALUES (2);
CREATE TABLE t_more (id int);
EOF
cat >"$CSQL/search/003_last.sql" <<'EOF'
INSERT INTO applied_log VALUES (3);
EOF

PIDS=()
for i in 1 2 3 4 5 6 7 8; do
	(
		for v in $(compgen -e | grep '^BH_'); do unset "$v"; done
		BH_DATABASE_URL=$(bh_pg_conninfo "$PG" "$CDB") BH_SQL_DIR=$CSQL \
			BH_LOG_LEVEL=info exec timeout -k 5 60 "$BIN" migrate
	) >"$TMP/conc.$i.out" 2>"$TMP/conc.$i.err" &
	PIDS+=($!)
done
CODES=
for pid in "${PIDS[@]}"; do
	wait "$pid"
	CODES="$CODES$?"
done
cat "$TMP"/conc.*.err >>"$TMP/all.err"
ERR=$TMP/conc.1.err
RC=$CODES
expect_eq "8 concurrent migrate runs on a fresh database all exit 0" 00000000 "$CODES"
expect_eq "each migration is recorded once" \
	"1:001_log.sql,2:002_more.sql,3:003_last.sql" "$(recorded "$CDB")"
expect_eq "each migration ran exactly once (applied_log is 1,2,3)" "1,2,3" \
	"$(q "$CDB" "SELECT string_agg(n::text, ',' ORDER BY n) FROM applied_log")"
expect_eq "the runs logged 3 applied migrations in all" 3 \
	"$(cat "$TMP"/conc.*.err | grep -c 'applied migration')"

# ------------------------------------------- the repository's own migrations

REAL=$BH_SRCDIR/sql/search
# its migration files in numeric order, one per line
real_files() {
	local f b
	for f in "$REAL"/*.sql; do
		b=${f##*/}
		[[ $b =~ ^([0-9]{1,9})_.+\.sql$ ]] &&
			printf '%d\t%s\n' "$((10#${BASH_REMATCH[1]}))" "$f"
	done | sort -n | cut -f2-
}
NREAL=$(real_files | grep -c .)
expect "the repository has search migrations ($NREAL in $REAL)" test "$NREAL" -ge 1

if ! { bh_pg_psql "$PG" postgres -c "DROP DATABASE $DB" >/dev/null 2>&1 &&
	bh_pg_create_db "$PG" "$DB" >/dev/null; }; then
	fail "fresh database $DB for the real migrations"
	finish
fi
run_migrate "$DB" "$BH_SRCDIR/sql"
expect_eq "sql/search migrations apply cleanly to a fresh database" 0 "$RC"
expect "... recording at least one row" \
	test "$(q "$DB" "SELECT count(*) FROM bh_migrations")" -ge 1
expect "... creating the service's tables (some table besides bh_migrations)" \
	test "$(q "$DB" "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'bh_migrations'")" -ge 1
expect_eq "... one row per file" "$NREAL" "$(q "$DB" "SELECT count(*) FROM bh_migrations")"
expect_eq "... with the files' checksums" \
	"$(real_files | while IFS= read -r f; do sha256_of "$f"; done | paste -sd ' ' -)" \
	"$(q "$DB" "SELECT string_agg(checksum, ' ' ORDER BY version) FROM bh_migrations")"
run_migrate "$DB" "$BH_SRCDIR/sql"
expect_eq "... and a second run succeeds" 0 "$RC"
expect "... applying nothing" bash -c "! grep -q 'applied migration' '$ERR'"

# a build with --enable-sanitizers reports leaks and errors on stderr,
# also in the runs expected to fail
REPORTS=$(grep -E 'ERROR: (AddressSanitizer|LeakSanitizer)|SUMMARY: [A-Za-z]+Sanitizer|runtime error: ' \
	"$TMP/all.err" | head -n 20)
if [ -z "$REPORTS" ]; then
	pass "no sanitizer report in any run's stderr"
else
	fail "no sanitizer report in any run's stderr" "$REPORTS"
fi

finish
