/*
 * migrate.c - applies a service's SQL migrations, sql/<service>/NNN_*.sql.
 *
 * Rules for migration files:
 *  - named NNN_name.sql, NNN a decimal number (1 to 9 digits) used by one
 *    file only; files are applied in numeric order (2 before 10), other
 *    files in the directory are ignored;
 *  - each file runs in its own transaction together with its row in
 *    bh_migrations, so it is applied completely or not at all.  A file
 *    must therefore not hold BEGIN, COMMIT or ROLLBACK, nor statements
 *    that cannot run inside a transaction (CREATE INDEX CONCURRENTLY,
 *    VACUUM, ...); nor COPY FROM STDIN (psql's \copy is not SQL);
 *  - an applied file is never edited: its SHA-256 is recorded and a
 *    changed file stops every later start.  Fix forward with a new file.
 * Concurrent starts (the workers of several hosts, a restart racing a
 * deploy) serialise on an advisory lock: one applies, the others find
 * the work done.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* pg_advisory_lock key: "bellhop" in ASCII.  Each service has its own
 * database, so one key serves all. */
#define BH_MIGRATE_LOCK_KEY "27700528343265136"

/* The version of a migration file name (digits, '_', a name, ".sql"), or
 * -1 when name is not one. */
static int
migration_version(const char *name)
{
	const char *p = name;
	int version = 0, ndigits = 0;
	size_t len;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (++ndigits > 9)
			return -1;
		version = version * 10 + (*p - '0');
	}
	if (ndigits == 0 || *p != '_')
		return -1;
	len = strlen(++p);
	if (len <= 4 || strcmp(p + len - 4, ".sql") != 0)
		return -1;
	return version;
}

static int
by_version(const void *a, const void *b)
{
	const bh_migration *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

void
bh_migration_list_free(bh_migration *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(list[i].name);
		free(list[i].path);
	}
	free(list);
}

int
bh_migration_scan(const char *dir, bh_migration **listp, size_t *np)
{
	bh_migration *list = NULL, *grown;
	size_t n = 0, cap = 0, i;
	struct dirent *ent;
	struct stat st;
	DIR *d;
	char *path;
	int version, rc = -1;

	*listp = NULL;
	*np = 0;
	if ((d = opendir(dir)) == NULL) {
		bh_log(BH_LOG_ERROR, "cannot read the migrations directory "
		    "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((errno = 0, ent = readdir(d)) != NULL) {
		if (ent->d_name[0] == '.')
			continue;
		version = migration_version(ent->d_name);
		if (version == -1) {
			size_t len = strlen(ent->d_name);

			if (len >= 4 && strcmp(ent->d_name + len - 4, ".sql") == 0)
				bh_log(BH_LOG_WARN, "ignoring %s/%s: not named "
				    "NNN_name.sql", dir, ent->d_name);
			continue;
		}
		if ((path = malloc(strlen(dir) + strlen(ent->d_name) + 2)) ==
		    NULL) {
			bh_log(BH_LOG_ERROR, "scanning %s: out of memory", dir);
			goto out;
		}
		sprintf(path, "%s/%s", dir, ent->d_name);
		if (stat(path, &st) == -1 || !S_ISREG(st.st_mode)) {
			bh_log(BH_LOG_WARN, "ignoring %s: not a regular file",
			    path);
			free(path);
			continue;
		}
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((grown = realloc(list, cap * sizeof(*list))) == NULL) {
				free(path);
				bh_log(BH_LOG_ERROR, "scanning %s: out of memory",
				    dir);
				goto out;
			}
			list = grown;
		}
		list[n].version = version;
		list[n].path = path;
		if ((list[n].name = strdup(ent->d_name)) == NULL) {
			free(path);
			bh_log(BH_LOG_ERROR, "scanning %s: out of memory", dir);
			goto out;
		}
		n++;
	}
	if (errno != 0) {
		bh_log(BH_LOG_ERROR, "cannot read the migrations directory "
		    "%s: %s", dir, strerror(errno));
		goto out;
	}
	if (n > 0)
		qsort(list, n, sizeof(*list), by_version);
	for (i = 1; i < n; i++)
		if (list[i].version == list[i - 1].version) {
			bh_log(BH_LOG_ERROR, "migrations %s and %s have the same "
			    "number %d: renumber the one not applied yet",
			    list[i - 1].path, list[i].path, list[i].version);
			goto out;
		}
	*listp = list;
	*np = n;
	list = NULL;
	n = 0;
	rc = 0;
out:
	bh_migration_list_free(list, n);
	closedir(d);
	return rc;
}

char *
bh_migration_read(const char *path, size_t *lenp,
		  char checksum[BH_SHA256_HEX_LEN + 1])
{
	uint8_t digest[BH_SHA256_LEN];
	struct stat st;
	char *buf = NULL, extra;
	size_t len = 0, size;
	ssize_t got;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		bh_log(BH_LOG_ERROR, "cannot open migration %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		bh_log(BH_LOG_ERROR, "migration %s is not a regular file", path);
		goto fail;
	}
	if (st.st_size > BH_MIGRATION_MAX_SIZE) {
		bh_log(BH_LOG_ERROR, "migration %s is larger than %d MiB: "
		    "split it", path, BH_MIGRATION_MAX_SIZE / (1024 * 1024));
		goto fail;
	}
	size = (size_t)st.st_size;
	if ((buf = malloc(size + 1)) == NULL) {
		bh_log(BH_LOG_ERROR, "reading migration %s: out of memory", path);
		goto fail;
	}
	while (len < size) {
		got = read(fd, buf + len, size - len);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	/* what was hashed must be what is applied: refuse a moving file */
	while ((got = read(fd, &extra, 1)) == -1 && errno == EINTR)
		;
	if (len != size || got != 0) {
		bh_log(BH_LOG_ERROR, "reading migration %s: %s", path,
		    got == -1 ? strerror(errno) : "the file changed while read");
		goto fail;
	}
	/* libpq takes a C string: a NUL would silently cut the SQL short */
	if (memchr(buf, '\0', len) != NULL) {
		bh_log(BH_LOG_ERROR, "migration %s holds a NUL byte", path);
		goto fail;
	}
	buf[len] = '\0';
	close(fd);
	bh_sha256(buf, len, digest);
	bh_sha256_digest_hex(digest, checksum);
	*lenp = len;
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

/* The 1-based line of sql holding character pos (1-based, counted in
 * characters as PostgreSQL reports it). */
static long
line_of(const char *sql, long pos)
{
	const unsigned char *p;
	long chars = 0, line = 1;

	for (p = (const unsigned char *)sql; *p != '\0'; p++) {
		if ((*p & 0xc0) == 0x80)
			continue;
		if (++chars >= pos)
			break;
		if (*p == '\n')
			line++;
	}
	return line;
}

/* Runs a bookkeeping statement (our SQL, values as parameters); true when
 * it succeeded, else logs what failed. */
static bool
run(PGconn *conn, const char *what, const char *sql, int nparams,
    const char *const *params, ExecStatusType want)
{
	PGresult *res;
	char msg[512];
	bool ok;

	res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	ok = PQresultStatus(res) == want;
	if (!ok) {
		bh_log_one_line(msg, sizeof(msg), PQerrorMessage(conn));
		bh_log(BH_LOG_ERROR, "migrations: %s failed: %s", what, msg);
	}
	PQclear(res);
	return ok;
}

static void
rollback(PGconn *conn)
{
	PGTransactionStatusType ts = PQtransactionStatus(conn);

	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
		PQclear(PQexec(conn, "ROLLBACK"));
}

/* Logs why a migration's SQL failed, with the line when PostgreSQL
 * points at one. */
static void
log_sql_error(const bh_migration *m, const char *sql, PGconn *conn,
	      const PGresult *res)
{
	const char *state = NULL, *primary = NULL, *pos = NULL, *detail = NULL;
	char msg[1024], where[32] = "", detailbuf[400], more[420] = "";

	if (res != NULL) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
		detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	}
	bh_log_one_line(msg, sizeof(msg), primary != NULL ? primary :
	    PQerrorMessage(conn));
	if (pos != NULL)
		snprintf(where, sizeof(where), " at line %ld",
		    line_of(sql, strtol(pos, NULL, 10)));
	if (detail != NULL) {
		bh_log_one_line(detailbuf, sizeof(detailbuf), detail);
		snprintf(more, sizeof(more), " (%s)", detailbuf);
	}
	bh_log(BH_LOG_ERROR, "migration %s failed%s: %s%s [SQLSTATE %s]; it "
	    "was rolled back, and no later migration was applied", m->path,
	    where, msg, more, state != NULL ? state : "none");
}

/* Applies one migration and records it, in one transaction. */
static int
apply(PGconn *conn, const bh_migration *m)
{
	char checksum[BH_SHA256_HEX_LEN + 1], version[16];
	const char *params[3];
	PGresult *res = NULL;
	ExecStatusType status;
	char *sql;
	size_t len;
	int rc = -1;

	if ((sql = bh_migration_read(m->path, &len, checksum)) == NULL)
		return -1;
	if (!run(conn, "BEGIN", "BEGIN", 0, NULL, PGRES_COMMAND_OK))
		goto out;
	/* simple query protocol: the file may hold several statements */
	res = PQexec(conn, sql);
	status = PQresultStatus(res);
	if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT ||
	    status == PGRES_COPY_BOTH) {
		/* closing the connection (our caller does) rolls it back */
		bh_log(BH_LOG_ERROR, "migration %s uses COPY FROM STDIN or TO "
		    "STDOUT, which migrations cannot; nothing of it was "
		    "applied", m->path);
		goto out;
	}
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK &&
	    status != PGRES_EMPTY_QUERY) {
		log_sql_error(m, sql, conn, res);
		rollback(conn);
		goto out;
	}
	if (status == PGRES_EMPTY_QUERY)
		bh_log(BH_LOG_WARN, "migration %s holds no statement", m->path);
	if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
		bh_log(BH_LOG_ERROR, "migration %s ended the transaction it "
		    "runs in (BEGIN, COMMIT or ROLLBACK in the file?): some of "
		    "it may be applied without being recorded; migrations must "
		    "not manage transactions", m->path);
		rollback(conn);
		goto out;
	}

	snprintf(version, sizeof(version), "%d", m->version);
	params[0] = version;
	params[1] = m->name;
	params[2] = checksum;
	if (!run(conn, "recording the migration",
	    "INSERT INTO bh_migrations (version, name, checksum) "
	    "VALUES ($1, $2, $3)", 3, params, PGRES_COMMAND_OK)) {
		rollback(conn);
		goto out;
	}
	if (!run(conn, "COMMIT", "COMMIT", 0, NULL, PGRES_COMMAND_OK)) {
		bh_log(BH_LOG_ERROR, "migration %s was not applied", m->path);
		goto out;
	}
	/* settings a file changed with SET must not leak into the next */
	PQclear(PQexec(conn, "RESET ALL"));
	bh_log(BH_LOG_INFO, "applied migration %s (sha256 %s)", m->path,
	    checksum);
	rc = 0;
out:
	PQclear(res);
	free(sql);
	return rc;
}

/* The migration of the list with that version, or NULL. */
static const bh_migration *
find_file(const bh_migration *files, size_t nfiles, int version)
{
	size_t i;

	for (i = 0; i < nfiles; i++)
		if (files[i].version == version)
			return &files[i];
	return NULL;
}

/*
 * Checks the recorded migrations against the files before anything is
 * applied: a changed file stops everything.  A recorded migration whose
 * file is gone only warns (files may be pruned after a squash).
 */
static int
verify_applied(const PGresult *rec, const bh_migration *files, size_t nfiles,
	       const char *dir)
{
	char checksum[BH_SHA256_HEX_LEN + 1];
	const bh_migration *m;
	const char *recorded, *name;
	size_t len;
	char *sql;
	int i, version, rc = 0;

	for (i = 0; i < PQntuples(rec); i++) {
		version = (int)strtol(PQgetvalue(rec, i, 0), NULL, 10);
		name = PQgetvalue(rec, i, 1);
		recorded = PQgetvalue(rec, i, 2);
		if ((m = find_file(files, nfiles, version)) == NULL) {
			bh_log(BH_LOG_WARN, "migration %d (%s) is recorded as "
			    "applied but no file numbered %d is in %s",
			    version, name, version, dir);
			continue;
		}
		if ((sql = bh_migration_read(m->path, &len, checksum)) == NULL)
			return -1;
		free(sql);
		if (strcmp(checksum, recorded) != 0) {
			bh_log(BH_LOG_ERROR, "migration %s was changed after it "
			    "was applied: recorded sha256 %s, the file's is now "
			    "%s.  Applied migrations must never be edited: "
			    "restore the file and add a new migration for the "
			    "change.  Nothing was applied.", m->path, recorded,
			    checksum);
			rc = -1;
		} else if (strcmp(name, m->name) != 0)
			bh_log(BH_LOG_WARN, "migration %s was applied as %s "
			    "(same content)", m->path, name);
	}
	return rc;
}

int
bh_migrate(const char *database_url, const char *sql_dir,
	   const char *service)
{
	const char *lock_key[] = { BH_MIGRATE_LOCK_KEY };
	bh_migration *files = NULL;
	size_t nfiles = 0, i;
	PGconn *conn = NULL;
	PGresult *rec = NULL;
	char dir[PATH_MAX], app[96], err[512];
	int n, latest, napplied = 0, rc = -1;
	bool locked = false;

	if (sql_dir == NULL || service == NULL)
		return -1;
	n = snprintf(dir, sizeof(dir), "%s/%s", sql_dir, service);
	if (n < 0 || (size_t)n >= sizeof(dir)) {
		bh_log(BH_LOG_ERROR, "migrations: BH_SQL_DIR is too long");
		return -1;
	}
	if (bh_migration_scan(dir, &files, &nfiles) == -1)
		goto out;
	if (nfiles == 0)
		bh_log(BH_LOG_WARN, "no migration files in %s", dir);

	snprintf(app, sizeof(app), "bellhop-%s-migrate", service);
	if ((conn = bh_db_open(database_url, app, err, sizeof(err))) == NULL) {
		bh_log(BH_LOG_ERROR, "migrations not applied: cannot connect "
		    "to the database: %s", err);
		goto out;
	}
	if (!run(conn, "taking the migration lock",
	    "SELECT pg_advisory_lock($1::bigint)", 1, lock_key,
	    PGRES_TUPLES_OK))
		goto out;
	locked = true;
	if (!run(conn, "creating bh_migrations",
	    "CREATE TABLE IF NOT EXISTS bh_migrations ("
	    " version int PRIMARY KEY,"
	    " name text NOT NULL,"
	    " checksum text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now())", 0, NULL,
	    PGRES_COMMAND_OK))
		goto out;
	rec = PQexec(conn, "SELECT version, name, checksum FROM bh_migrations "
	    "ORDER BY version");
	if (PQresultStatus(rec) != PGRES_TUPLES_OK) {
		bh_log(BH_LOG_ERROR, "migrations: reading bh_migrations "
		    "failed: %s", PQresultErrorMessage(rec));
		goto out;
	}
	if (verify_applied(rec, files, nfiles, dir) == -1)
		goto out;

	latest = PQntuples(rec) > 0 ? (int)strtol(PQgetvalue(rec,
	    PQntuples(rec) - 1, 0), NULL, 10) : -1;
	for (i = 0; i < nfiles; i++) {
		int j;
		bool recorded = false;

		for (j = 0; j < PQntuples(rec) && !recorded; j++)
			recorded = strtol(PQgetvalue(rec, j, 0), NULL, 10) ==
			    files[i].version;
		if (recorded)
			continue;
		if (files[i].version < latest)
			bh_log(BH_LOG_WARN, "applying %s although migration %d "
			    "is already applied (out of order)", files[i].path,
			    latest);
		if (apply(conn, &files[i]) == -1)
			goto out;
		napplied++;
	}
	bh_log(BH_LOG_INFO, "database of %s is up to date: %zu migrations, "
	    "%d applied now", service, nfiles, napplied);
	rc = 0;
out:
	if (locked && PQstatus(conn) == CONNECTION_OK &&
	    PQtransactionStatus(conn) == PQTRANS_IDLE)
		run(conn, "releasing the migration lock",
		    "SELECT pg_advisory_unlock($1::bigint)", 1, lock_key,
		    PGRES_TUPLES_OK);
	/* closing also releases the lock and rolls back what was left */
	PQclear(rec);
	PQfinish(conn);
	bh_migration_list_free(files, nfiles);
	return rc;
}
