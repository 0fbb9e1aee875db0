# scripts/pg.sh - a private PostgreSQL cluster in a directory of our own.
#
# Sourced by scripts/stack and the integration tests.  The cluster listens
# only on a unix socket in DIR/sock, trusts local connections, and runs as
# the invoking user, or as "postgres" when invoked as root (initdb refuses
# root).  Every function takes the cluster directory first.

bh_pg_bindir() {
	local d
	for d in /usr/lib/postgresql/*/bin; do :; done  # the highest version
	[ -x "$d/initdb" ] || { echo "PostgreSQL server not found: apt-get install postgresql postgresql-contrib" >&2; return 1; }
	echo "$d"
}

# Runs a command as the cluster's owner.
bh_pg_as_owner() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# bh_pg_init DIR: creates the cluster if DIR/data does not exist yet.
bh_pg_init() {
	local dir=$1 bin
	bin=$(bh_pg_bindir) || return 1
	[ -f "$dir/data/PG_VERSION" ] && return 0
	mkdir -p "$dir/data" "$dir/sock"
	# the owner must reach the directory; a mktemp dir is 0700
	chmod 755 "$dir"
	chmod 700 "$dir/data"
	if [ "$(id -u)" = 0 ]; then chown postgres: "$dir/data" "$dir/sock"; fi
	bh_pg_as_owner "$bin/initdb" -D "$dir/data" --auth-local=trust \
		--auth-host=reject -E UTF8 --locale=C.UTF-8 -U postgres >"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log" >&2; return 1; }
	cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir/sock'
max_connections = 200
shared_buffers = 128MB
fsync = on
CONF
}

# bh_pg_start DIR: starts the cluster unless it is running; waits until ready.
bh_pg_start() {
	local dir=$1 bin
	bin=$(bh_pg_bindir) || return 1
	if bh_pg_as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then return 0; fi
	# the owner (postgres when root) writes the log beside data/
	[ -e "$dir/postgres.log" ] || : >"$dir/postgres.log"
	if [ "$(id -u)" = 0 ]; then chown postgres: "$dir/postgres.log"; fi
	bh_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null || {
		tail -20 "$dir/postgres.log" >&2; return 1; }
}

# bh_pg_stop DIR [MODE]: stops the cluster if it runs (MODE fast by default).
bh_pg_stop() {
	local dir=$1 mode=${2:-fast} bin
	bin=$(bh_pg_bindir) || return 1
	[ -f "$dir/data/postmaster.pid" ] || return 0
	bh_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null 2>&1 || true
}

# bh_pg_psql DIR DB [psql args...]: psql as the superuser.
bh_pg_psql() {
	local dir=$1 db=$2; shift 2
	psql -X -q -v ON_ERROR_STOP=1 -h "$dir/sock" -U postgres -d "$db" "$@"
}

# bh_pg_create_db DIR NAME: role NAME (login, no password: the socket is
# private) owning database NAME; safe to run again.
bh_pg_create_db() {
	local dir=$1 name=$2
	bh_pg_psql "$dir" postgres -tA -c "SELECT 1 FROM pg_roles WHERE rolname = '$name'" | grep -q 1 ||
		bh_pg_psql "$dir" postgres -c "CREATE ROLE \"$name\" LOGIN"
	bh_pg_psql "$dir" postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1 ||
		bh_pg_psql "$dir" postgres -c "CREATE DATABASE \"$name\" OWNER \"$name\""
}

# bh_pg_conninfo DIR NAME: the libpq conninfo for service database NAME.
bh_pg_conninfo() {
	echo "host=$1/sock dbname=$2 user=$2"
}
