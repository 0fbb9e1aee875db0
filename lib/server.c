/*
 * server.c - the program around a service: command line, configuration,
 * where the FastCGI socket comes from, and the supervised worker pool.
 *
 * Process model.  With --listen (or BH_LISTEN) the process started is the
 * pool master: it opens the socket, forks --workers workers that accept on
 * it, and supervises them (respawn on crash with a crash-loop brake,
 * recycle after --max-requests, graceful stop, rolling reload).  Without
 * it the socket is inherited (fd 0 from mod_fcgid or spawn-fcgi, fd 3
 * from systemd) and this one process serves, as those managers expect,
 * unless --workers asks for a pool on the inherited socket.
 *
 * The master handles no signal asynchronously: it keeps its signals
 * blocked and takes them one at a time with sigtimedwait(), whose timeout
 * also drives the respawn back-off and the kill deadline.  No handler, no
 * self-pipe, no race between checking state and sleeping.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Workers still busy this long after SIGTERM are killed. */
#define GRACE_US (30 * 1000000ULL)
/* Crash-loop brake: this many crashes within CRASH_WINDOW_US ... */
#define CRASH_BURST 5
#define CRASH_WINDOW_US (10 * 1000000ULL)
/* ... delay respawning, doubling from the first to the last delay. */
#define BACKOFF_FIRST_US (1000000ULL)
#define BACKOFF_MAX_US (30 * 1000000ULL)

#define EXIT_USAGE 2

#ifndef BH_DEFAULT_SQL_DIR
#define BH_DEFAULT_SQL_DIR "/usr/local/share/bellhop/sql"
#endif

/* ------------------------------------------------------ command line */

struct flag {
	const char *name; /* "--workers" */
	const char *var;  /* the variable it overrides */
	const char *value;
};

enum { FLAG_LISTEN, FLAG_WORKERS, FLAG_MAX_REQUESTS, FLAG_SOCKET_MODE,
    NFLAGS };

struct options {
	bool migrate;
	struct flag flags[NFLAGS];
	/* a command of the service's table, with its arguments (argv[0] is
	 * its name) */
	const bh_command *command;
	int command_argc;
	char **command_argv;
};

static const char *progname(const bh_service *svc);

/* Prints each line of a command's usage, prefixed. */
static void
print_command_usage(FILE *out, const char *prefix, const bh_command *cmd)
{
	const char *line = cmd->usage != NULL ? cmd->usage : cmd->name, *nl;

	do {
		nl = strchr(line, '\n');
		fprintf(out, "%s%.*s\n", prefix,
		    (int)(nl != NULL ? (size_t)(nl - line) : strlen(line)), line);
		line = nl != NULL ? nl + 1 : NULL;
	} while (line != NULL && *line != '\0');
}

static void
usage(const bh_service *svc, FILE *out)
{
	const char *p = progname(svc), *s = svc->name;
	const bh_command *cmd;
	char prefix[80];

	fprintf(out,
"usage: %s [serve] [--listen ADDR] [--workers N] [--max-requests N]\n"
"       %*s [--socket-mode MODE]\n"
"       %s migrate\n",
	    p, (int)strlen(p), "", p);
	if (svc->commands != NULL && svc->commands[0].name != NULL)
		fprintf(out, "       %s COMMAND [ARGS...]\n", p);
	fprintf(out,
"       %s --help | --version\n"
"\n"
"The bellhop %s service, a FastCGI program.\n"
"\n"
"Commands:\n"
"  serve    serve FastCGI requests (the default)\n"
"  migrate  apply the SQL migrations in $BH_SQL_DIR/%s/ and exit\n",
	    p, s, s);
	snprintf(prefix, sizeof(prefix), "  %s ", p);
	for (cmd = svc->commands; cmd != NULL && cmd->name != NULL; cmd++)
		print_command_usage(out, prefix, cmd);
	if (svc->commands != NULL && svc->commands[0].name != NULL)
		fprintf(out, "  The other commands run once with the settings "
		    "below and exit: 0 done,\n  1 failed, 2 bad usage.  Serve "
		    "options are not accepted with them.\n");
	fprintf(out,
"\n"
"Serve options (each overrides the BH_ variable named):\n"
"  --listen ADDR        unix:/path or HOST:PORT to listen on, with a\n"
"                       supervised pool of workers (BH_LISTEN).  Without\n"
"                       it, serve on the socket inherited on fd 0\n"
"                       (mod_fcgid, spawn-fcgi) or from systemd\n"
"  --workers N          worker processes, 1-256, default 2 (BH_WORKERS);\n"
"                       on an inherited socket one process serves unless\n"
"                       this is given\n"
"  --max-requests N     recycle a worker after N requests, 0 = never,\n"
"                       default 0 (BH_MAX_REQUESTS)\n"
"  --socket-mode MODE   octal mode of the unix socket, default 0660\n"
"                       (BH_SOCKET_MODE)\n"
"  --help, --version    print this or the version, exit\n"
"\n"
"Environment:\n"
"  BH_DATABASE_URL          libpq conninfo or URI, default\n"
"                           \"dbname=bellhop_%s\" (PGHOST, PGUSER... apply)\n"
"  BH_SQL_DIR               directory of <service>/NNN_*.sql, default\n"
"                           %s\n"
"  BH_LOG_LEVEL             debug, info, warn or error, default info\n"
"  BH_BASE_PATH             URL prefix, \"\" or /path, default /%s\n"
"  BH_MAX_BODY              largest request body in bytes, 1024 to\n"
"                           1073741824, default 1048576\n"
"  BH_JSON_MAX_DEPTH        JSON nesting limit, 1-256, default 32\n"
"  BH_DB_CONNECT_TIMEOUT    seconds, 1-300, default 2\n"
"  BH_DB_STATEMENT_TIMEOUT  milliseconds, 1-3600000, default 5000\n"
"  BH_RETRY_AFTER           Retry-After seconds in 503s, 1-3600, default 2\n"
"  BH_LISTEN, BH_WORKERS, BH_MAX_REQUESTS, BH_SOCKET_MODE  as the options\n"
"  BH_PUBLIC_URL            the front end's URL, http(s), no trailing\n"
"                           slash, default http://127.0.0.1:8080\n"
"  BH_AUTH_ISSUER           token issuer, default $BH_PUBLIC_URL/auth\n"
"  BH_AUTH_JWKS_URL         default $BH_AUTH_ISSUER/.well-known/jwks.json\n"
"  BH_AUTH_TOKEN_URL        default $BH_AUTH_ISSUER/oauth/token\n"
"  BH_AUDIENCE              audience of accepted tokens, default %s\n"
"  BH_CLIENT_ID             this service's OAuth2 client, default %s\n"
"  BH_CLIENT_SECRET(_FILE)  its secret, or a file holding it (not both)\n"
"  BH_TOKEN_LEEWAY          clock skew allowed on tokens, seconds, 0-300,\n"
"                           default 30\n"
"  BH_JWKS_COOLDOWN         least seconds between key refetches for an\n"
"                           unknown key id, 1-3600, default 30\n"
"  BH_HTTP_CONNECT_TIMEOUT  outbound calls, milliseconds, 10-60000,\n"
"                           default 1000\n"
"  BH_HTTP_TIMEOUT          whole outbound call, milliseconds,\n"
"                           10-300000, default 5000\n"
"  BH_HTTP_RETRIES          retries of idempotent calls, 0-10, default 2\n"
"  BH_<SERVICE>_URL         another service's base URL, default\n"
"                           $BH_PUBLIC_URL/<service>\n"
"\n"
"Signals: SIGTERM, SIGINT or SIGQUIT stop gracefully (requests in flight\n"
"finish); SIGHUP starts fresh workers and retires the old ones gracefully.\n"
"Logs are JSON lines on stderr.  See docs/configuration.md.\n",
	    s, BH_DEFAULT_SQL_DIR, s, s, s);
}

static const char *
progname(const bh_service *svc)
{
	static char name[64];

	snprintf(name, sizeof(name), "bellhop-%s", svc->name);
	return name;
}

/* One line on stderr, then the usual pointer to --help. */
static int
usage_error(const bh_service *svc, const char *what, const char *arg)
{
	fprintf(stderr, "%s: %s '%s' (try '%s --help')\n", progname(svc),
	    what, arg, progname(svc));
	return EXIT_USAGE;
}

static const bh_command *
find_command(const bh_service *svc, const char *name)
{
	const bh_command *cmd;

	for (cmd = svc->commands; cmd != NULL && cmd->name != NULL; cmd++)
		if (strcmp(cmd->name, name) == 0)
			return cmd;
	return NULL;
}

/* Fills opt from argv.  Returns -1 to go on, else the exit status (after
 * --help, --version or a usage error). */
static int
parse_args(const bh_service *svc, int argc, char **argv, struct options *opt)
{
	static const struct flag known[NFLAGS] = {
		[FLAG_LISTEN] = { "--listen", "BH_LISTEN", NULL },
		[FLAG_WORKERS] = { "--workers", "BH_WORKERS", NULL },
		[FLAG_MAX_REQUESTS] = { "--max-requests", "BH_MAX_REQUESTS",
		    NULL },
		[FLAG_SOCKET_MODE] = { "--socket-mode", "BH_SOCKET_MODE", NULL },
	};
	const bh_command *cmd;
	const char *arg, *eq, *value;
	char prefix[80];
	size_t i, namelen;
	bool command_seen = false, any_flag = false;
	int a, end;

	memset(opt, 0, sizeof(*opt));
	memcpy(opt->flags, known, sizeof(known));
	/*
	 * --help and --version win wherever they are, up to the name of a
	 * service command: what follows it is the command's own.  There
	 * --help prints the command's usage.
	 */
	for (end = 1; end < argc && find_command(svc, argv[end]) == NULL; end++)
		;
	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--help") != 0 &&
		    strcmp(argv[a], "-h") != 0)
			continue;
		if (a < end || (cmd = find_command(svc, argv[end])) == NULL) {
			usage(svc, stdout);
			return 0;
		}
		snprintf(prefix, sizeof(prefix), "  %s ", progname(svc));
		printf("usage:\n");
		print_command_usage(stdout, prefix, cmd);
		return 0;
	}
	for (a = 1; a < end; a++) {
		if (strcmp(argv[a], "--version") == 0) {
			printf("%s %s\n", progname(svc), PACKAGE_VERSION);
			return 0;
		}
	}

	for (a = 1; a < argc; a++) {
		arg = argv[a];
		if (arg[0] != '-') {
			if (!command_seen && any_flag &&
			    find_command(svc, arg) != NULL) {
				fprintf(stderr, "%s: %s takes no serve option "
				    "(try '%s --help')\n", progname(svc), arg,
				    progname(svc));
				return EXIT_USAGE;
			}
			if (command_seen || any_flag)
				return usage_error(svc, "unexpected argument",
				    arg);
			command_seen = true;
			if (strcmp(arg, "migrate") == 0)
				opt->migrate = true;
			else if ((cmd = find_command(svc, arg)) != NULL) {
				opt->command = cmd;
				opt->command_argc = argc - a;
				opt->command_argv = argv + a;
				return -1;
			} else if (strcmp(arg, "serve") != 0)
				return usage_error(svc, "unknown command", arg);
			continue;
		}
		eq = strchr(arg, '=');
		namelen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
		for (i = 0; i < NFLAGS; i++)
			if (strlen(known[i].name) == namelen &&
			    strncmp(arg, known[i].name, namelen) == 0)
				break;
		if (i == NFLAGS)
			return usage_error(svc, "unknown option", arg);
		if (eq != NULL)
			value = eq + 1;
		else if (a + 1 < argc)
			value = argv[++a];
		else
			return usage_error(svc, "missing value for", arg);
		opt->flags[i].value = value;
		any_flag = true;
	}
	if (opt->migrate && any_flag) {
		fprintf(stderr, "%s: migrate takes no option (try '%s --help')\n",
		    progname(svc), progname(svc));
		return EXIT_USAGE;
	}
	return -1;
}

/* ----------------------------------------------------------- sockets */

/* Where the pool listens, for removing the unix socket at the end. */
struct listener {
	int fd;
	const char *unix_path; /* NULL for TCP or an inherited socket */
	dev_t dev;
	ino_t ino;
};

/* Removes a socket file left by a process that is gone.  Refuses to touch
 * anything that is not a socket, or a socket someone still answers on. */
static int
remove_stale_socket(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		bh_log(BH_LOG_ERROR, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		bh_log(BH_LOG_ERROR, "%s exists and is not a socket; not "
		    "removing it", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0) {
		bh_log(BH_LOG_ERROR, "%s is in use by a running server", path);
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		bh_log(BH_LOG_ERROR, "removing stale %s: %s", path,
		    strerror(errno));
		return -1;
	}
	bh_log(BH_LOG_INFO, "removed stale socket %s", path);
	return 0;
}

static int
listen_unix(const char *path, struct listener *l)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old_umask;
	int fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	/* config.c checked that it fits. */
	strncpy(sun.sun_path, path, sizeof(sun.sun_path) - 1);
	if (remove_stale_socket(path, &sun) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		bh_log(BH_LOG_ERROR, "socket: %s", strerror(errno));
		return -1;
	}
	/* Create the file with the final mode so it is never, even briefly,
	 * more open than asked; chmod then sets it exactly. */
	old_umask = umask(~(mode_t)bh_cfg.socket_mode & 0777);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (rc == -1) {
		bh_log(BH_LOG_ERROR, "bind %s: %s", path, strerror(errno));
		goto fail;
	}
	if (chmod(path, (mode_t)bh_cfg.socket_mode) == -1 ||
	    stat(path, &st) == -1) {
		bh_log(BH_LOG_ERROR, "chmod %s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	if (listen(fd, SOMAXCONN) == -1) {
		bh_log(BH_LOG_ERROR, "listen %s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	l->fd = fd;
	l->unix_path = path;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return 0;
fail:
	close(fd);
	return -1;
}

static int
listen_tcp(const char *addr, struct listener *l)
{
	struct addrinfo hints, *res = NULL, *ai;
	const char *colon = strrchr(addr, ':');
	char host[256];
	size_t hostlen = (size_t)(colon - addr);
	int fd = -1, one = 1, gai;

	/* config.c checked the form: HOST:PORT, HOST maybe [v6]. */
	if (addr[0] == '[') {
		addr++;
		hostlen -= 2;
	}
	if (hostlen >= sizeof(host))
		return -1;
	memcpy(host, addr, hostlen);
	host[hostlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((gai = getaddrinfo(host, colon + 1, &hints, &res)) != 0) {
		bh_log(BH_LOG_ERROR, "%s: %s", host, gai_strerror(gai));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1)
			continue;
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one)) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, SOMAXCONN) == 0)
			break;
		bh_log(BH_LOG_WARN, "listen %s: %s", bh_cfg.listen,
		    strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		bh_log(BH_LOG_ERROR, "cannot listen on %s", bh_cfg.listen);
		return -1;
	}
	l->fd = fd;
	l->unix_path = NULL;
	return 0;
}

static int
open_listener(struct listener *l)
{
	if (strncmp(bh_cfg.listen, "unix:", 5) == 0)
		return listen_unix(bh_cfg.listen + 5, l);
	return listen_tcp(bh_cfg.listen, l);
}

static bool
is_listening_socket(int fd)
{
	int on = 0;
	socklen_t len = sizeof(on);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 &&
	    on != 0;
}

/* The socket systemd passed (LISTEN_PID is us, LISTEN_FDS >= 1: fd 3), or
 * fd 0 when it is a listening socket (mod_fcgid, spawn-fcgi); -1 if
 * neither. */
static int
inherited_socket(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char *end;
	long n;
	int fd = -1;

	if (pid != NULL && fds != NULL) {
		errno = 0;
		n = strtol(pid, &end, 10);
		if (errno == 0 && *end == '\0' && n == (long)getpid()) {
			n = strtol(fds, &end, 10);
			if (errno == 0 && *end == '\0' && n >= 1 &&
			    is_listening_socket(3))
				fd = 3;
		}
		/* Not for our children to find. */
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		if (fd != -1) {
			fcntl(fd, F_SETFD, FD_CLOEXEC);
			return fd;
		}
	}
	return is_listening_socket(0) ? 0 : -1;
}

/* --------------------------------------------------------- the pool */

struct worker {
	pid_t pid;
	unsigned generation;
	uint64_t started_us;
	uint64_t kill_at_us; /* 0, or when SIGKILL follows our SIGTERM */
	bool retiring;       /* told to stop: its exit is expected */
};

struct pool {
	const bh_service *svc;
	int listen_fd;
	int size;             /* workers wanted */
	long max_requests;
	sigset_t orig_mask;   /* the mask before the master blocked its signals */
	struct worker *w;
	size_t n, cap;
	unsigned generation;
	bool stopping;
	uint64_t crashes[CRASH_BURST]; /* times of the latest crashes */
	size_t ncrashes;
	uint64_t backoff_us;
	uint64_t next_spawn_us; /* no respawn before this */
};

/* The child side of a fork: becomes a worker and never returns. */
static void
worker_main(struct pool *p, pid_t master)
{
	struct sigaction sa;
	sigset_t mask = p->orig_mask;
	int rc;

	/* Die with the master, and check it did not die before this. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != master)
		_exit(0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	/* Back to the caller's mask, stop signals still held until the
	 * worker has its handlers (a SIGTERM sent now stays pending). */
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGQUIT);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	free(p->w);
	rc = bh_worker_run(p->svc, p->listen_fd, p->max_requests);
	/* exit, not _exit: the worker's end is a normal program end (atexit
	 * handlers, LeakSanitizer); the master flushed stdio before fork. */
	exit(rc == 0 ? 0 : 1);
}

static int
spawn_worker(struct pool *p)
{
	struct worker *grown;
	pid_t pid, master = getpid();

	if (p->n == p->cap) {
		p->cap = p->cap == 0 ? 8 : p->cap * 2;
		if ((grown = realloc(p->w, p->cap * sizeof(*grown))) == NULL)
			abort();
		p->w = grown;
	}
	fflush(NULL);
	if ((pid = fork()) == -1) {
		bh_log(BH_LOG_ERROR, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0)
		worker_main(p, master);
	p->w[p->n++] = (struct worker){
		.pid = pid,
		.generation = p->generation,
		.started_us = bh_now_us(),
	};
	bh_log(BH_LOG_INFO, "worker %ld started", (long)pid);
	return 0;
}

/* Sends SIGTERM to every worker not yet told, and arms its deadline. */
static void
retire_workers(struct pool *p, bool all)
{
	uint64_t now = bh_now_us();
	size_t i;

	for (i = 0; i < p->n; i++) {
		if (p->w[i].retiring ||
		    (!all && p->w[i].generation == p->generation))
			continue;
		p->w[i].retiring = true;
		p->w[i].kill_at_us = now + GRACE_US;
		kill(p->w[i].pid, SIGTERM);
	}
}

/* Records a crash of a worker that ran for lived_us.  CRASH_BURST crashes
 * within CRASH_WINDOW_US start the back-off: respawning waits 1 s, then
 * twice as long after each further round of young crashes, up to 30 s.
 * A worker that ran CRASH_WINDOW_US before dying ends the back-off: that
 * is a crash, not a crash loop. */
static void
note_crash(struct pool *p, uint64_t now, uint64_t lived_us)
{
	if (lived_us >= CRASH_WINDOW_US) {
		p->ncrashes = 0;
		p->backoff_us = 0;
	}
	if (p->ncrashes == CRASH_BURST) {
		memmove(p->crashes, p->crashes + 1,
		    (CRASH_BURST - 1) * sizeof(p->crashes[0]));
		p->ncrashes--;
	}
	p->crashes[p->ncrashes++] = now;
	if (p->backoff_us == 0 && (p->ncrashes < CRASH_BURST ||
	    now - p->crashes[0] >= CRASH_WINDOW_US))
		return;
	/* Workers of the round already delayed do not delay it again. */
	if (p->next_spawn_us > now)
		return;
	p->backoff_us = p->backoff_us == 0 ? BACKOFF_FIRST_US :
	    p->backoff_us * 2;
	if (p->backoff_us > BACKOFF_MAX_US)
		p->backoff_us = BACKOFF_MAX_US;
	p->next_spawn_us = now + p->backoff_us;
	bh_log(BH_LOG_ERROR, "workers keep crashing soon after they start; "
	    "next respawn in %llu s",
	    (unsigned long long)(p->backoff_us / 1000000));
}

/* Collects every worker that exited, saying how. */
static void
reap_workers(struct pool *p)
{
	struct worker *w;
	uint64_t now;
	pid_t pid;
	size_t i;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < p->n && p->w[i].pid != pid; i++)
			;
		if (i == p->n)
			continue; /* not a worker (a handler's child) */
		w = &p->w[i];
		now = bh_now_us();
		if (w->retiring && WIFEXITED(status))
			bh_log(BH_LOG_INFO, "worker %ld stopped", (long)pid);
		else if (w->retiring)
			bh_log(BH_LOG_WARN, "worker %ld stopped by signal %d",
			    (long)pid, WTERMSIG(status));
		else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			bh_log(BH_LOG_INFO, "worker %ld recycled after %ld "
			    "requests", (long)pid, p->max_requests);
		else {
			if (WIFSIGNALED(status))
				bh_log(BH_LOG_ERROR, "worker %ld crashed: "
				    "signal %d after %llu ms", (long)pid,
				    WTERMSIG(status), (unsigned long long)
				    ((now - w->started_us) / 1000));
			else
				bh_log(BH_LOG_ERROR, "worker %ld crashed: exit "
				    "status %d after %llu ms", (long)pid,
				    WEXITSTATUS(status), (unsigned long long)
				    ((now - w->started_us) / 1000));
			note_crash(p, now, now - w->started_us);
		}
		p->w[i] = p->w[--p->n];
	}
}

/* Workers of the current generation not told to stop. */
static size_t
current_workers(const struct pool *p)
{
	size_t i, n = 0;

	for (i = 0; i < p->n; i++)
		if (!p->w[i].retiring && p->w[i].generation == p->generation)
			n++;
	return n;
}

/* SIGKILLs workers past their grace period; returns the next deadline
 * (0 if none). */
static uint64_t
kill_stragglers(struct pool *p, uint64_t now)
{
	uint64_t next = 0;
	size_t i;

	for (i = 0; i < p->n; i++) {
		if (p->w[i].kill_at_us == 0)
			continue;
		if (p->w[i].kill_at_us <= now) {
			bh_log(BH_LOG_WARN, "worker %ld still busy after %llu s;"
			    " killing it", (long)p->w[i].pid,
			    (unsigned long long)(GRACE_US / 1000000));
			kill(p->w[i].pid, SIGKILL);
			p->w[i].kill_at_us = 0;
		} else if (next == 0 || p->w[i].kill_at_us < next)
			next = p->w[i].kill_at_us;
	}
	return next;
}

static int
run_pool(struct pool *p)
{
	struct sigaction sa;
	struct timespec ts, *timeout;
	sigset_t waitset;
	uint64_t now, deadline, next_kill;
	int sig;

	sigemptyset(&waitset);
	sigaddset(&waitset, SIGCHLD);
	sigaddset(&waitset, SIGTERM);
	sigaddset(&waitset, SIGINT);
	sigaddset(&waitset, SIGQUIT);
	sigaddset(&waitset, SIGHUP);
	/* Default dispositions: an inherited SIG_IGN on SIGCHLD would reap
	 * the workers behind our back.  Blocked signals queue for
	 * sigtimedwait whatever their disposition. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		if (sigismember(&waitset, sig))
			sigaction(sig, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigprocmask(SIG_BLOCK, &waitset, &p->orig_mask);

	p->generation = 1;
	if (p->max_requests > 0)
		bh_log(BH_LOG_INFO, "pool of %d workers, each recycled after %ld "
		    "requests", p->size, p->max_requests);
	else
		bh_log(BH_LOG_INFO, "pool of %d workers", p->size);
	for (;;) {
		reap_workers(p);
		now = bh_now_us();
		next_kill = kill_stragglers(p, now);
		if (p->stopping && p->n == 0)
			break;
		if (!p->stopping && now >= p->next_spawn_us) {
			while (current_workers(p) < (size_t)p->size)
				if (spawn_worker(p) == -1) {
					/* fork failed: retry in a while */
					note_crash(p, now, 0);
					if (p->next_spawn_us <= now)
						p->next_spawn_us = now +
						    BACKOFF_FIRST_US;
					break;
				}
		}

		/* Sleep until a signal, a respawn or a kill deadline. */
		deadline = next_kill;
		if (!p->stopping && current_workers(p) < (size_t)p->size &&
		    (deadline == 0 || p->next_spawn_us < deadline))
			deadline = p->next_spawn_us;
		timeout = NULL;
		if (deadline != 0) {
			now = bh_now_us();
			deadline = deadline > now ? deadline - now : 0;
			ts.tv_sec = (time_t)(deadline / 1000000);
			ts.tv_nsec = (long)(deadline % 1000000) * 1000;
			timeout = &ts;
		}
		sig = sigtimedwait(&waitset, NULL, timeout);
		switch (sig) {
		case SIGTERM:
		case SIGINT:
		case SIGQUIT:
			if (!p->stopping) {
				bh_log(BH_LOG_INFO, "%s: stopping gracefully",
				    sig == SIGTERM ? "SIGTERM" : sig == SIGINT ?
				    "SIGINT" : "SIGQUIT");
				p->stopping = true;
				retire_workers(p, true);
			}
			break;
		case SIGHUP:
			if (p->stopping)
				break;
			bh_log(BH_LOG_INFO, "SIGHUP: starting fresh workers, "
			    "retiring the old ones");
			p->generation++;
			p->next_spawn_us = 0;
			while (current_workers(p) < (size_t)p->size &&
			    spawn_worker(p) == 0)
				;
			/* The old ones finish their requests meanwhile. */
			retire_workers(p, false);
			break;
		default:
			/* SIGCHLD, a timeout, or EINTR: the loop looks. */
			break;
		}
	}
	sigprocmask(SIG_SETMASK, &p->orig_mask, NULL);
	free(p->w);
	p->w = NULL;
	return 0;
}

/* ------------------------------------------------------------- main */

/* "GET|POST" for a route's methods, into buf. */
static const char *
method_names(unsigned methods, char *buf, size_t size)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ BH_GET, "GET" }, { BH_HEAD, "HEAD" }, { BH_POST, "POST" },
		{ BH_PUT, "PUT" }, { BH_PATCH, "PATCH" },
		{ BH_DELETE, "DELETE" }, { BH_OPTIONS, "OPTIONS" },
	};
	size_t i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((methods & names[i].bit) && len < size)
			len += (size_t)snprintf(buf + len, size - len, "%s%s",
			    len > 0 ? "|" : "", names[i].name);
	return buf;
}

/*
 * Every route must say who may call it: a forgotten declaration must stop
 * the service at start rather than serve a protected resource openly (or,
 * as bh_dispatch would, lock out a public one).  Returns 0, or -1 after
 * naming the first bad route on stderr.
 */
static int
check_routes(const bh_service *svc)
{
	const bh_route *r;
	const char *why;
	char methods[64];

	for (r = svc->routes; r != NULL && r->pattern != NULL; r++) {
		if (r->access == BH_ACCESS_UNDECLARED)
			why = "declares no access: set .access to BH_PUBLIC "
			    "or BH_TOKEN";
		else if (r->access == BH_PUBLIC && r->scopes != NULL &&
		    r->scopes[0] != '\0')
			why = "is BH_PUBLIC but lists scopes: make it BH_TOKEN "
			    "or drop the scopes";
		else if (r->access != BH_PUBLIC && r->access != BH_TOKEN)
			why = "has an unknown access value";
		else
			continue;
		fprintf(stderr, "%s: route %s %s %s\n", progname(svc),
		    method_names(r->methods, methods, sizeof(methods)),
		    r->pattern, why);
		return -1;
	}
	return 0;
}

static int
serve(const bh_service *svc, bool workers_given)
{
	struct listener l = { .fd = -1 };
	struct pool p;
	struct stat st;
	int fd, rc;

	if (bh_cfg.listen != NULL) {
		bh_log(BH_LOG_INFO, "%s %s starting (pid %ld)", progname(svc),
		    PACKAGE_VERSION, (long)getpid());
		if (open_listener(&l) == -1)
			return 1;
		bh_log(BH_LOG_INFO, "listening on %s%s", bh_cfg.listen,
		    l.unix_path != NULL ? "" : " (tcp)");
		fd = l.fd;
	} else {
		if ((fd = inherited_socket()) == -1) {
			fprintf(stderr, "%s: no FastCGI socket on fd 0: start "
			    "it under a FastCGI process manager or pass "
			    "--listen unix:/path or --listen 127.0.0.1:PORT\n",
			    progname(svc));
			return EXIT_USAGE;
		}
		bh_log(BH_LOG_INFO, "%s %s starting (pid %ld) on inherited "
		    "socket fd %d%s", progname(svc), PACKAGE_VERSION,
		    (long)getpid(), fd, workers_given ? "" : " in this process");
		if (!workers_given) {
			rc = bh_worker_run(svc, fd, bh_cfg.max_requests);
			bh_log(BH_LOG_INFO, "stopped");
			return rc == 0 ? 0 : 1;
		}
	}

	memset(&p, 0, sizeof(p));
	p.svc = svc;
	p.listen_fd = fd;
	p.size = bh_cfg.workers;
	p.max_requests = bh_cfg.max_requests;
	rc = run_pool(&p);
	if (l.fd != -1)
		close(l.fd);
	/* Only our own socket file: a newer server may have taken the path. */
	if (l.unix_path != NULL && lstat(l.unix_path, &st) == 0 &&
	    st.st_dev == l.dev && st.st_ino == l.ino)
		unlink(l.unix_path);
	bh_log(BH_LOG_INFO, "stopped");
	return rc;
}

int
bh_main(const bh_service *svc, int argc, char **argv)
{
	struct options opt;
	const char *err;
	size_t i;
	int rc;

	if ((rc = parse_args(svc, argc, argv, &opt)) != -1)
		return rc;
	if (bh_config_load(svc->name, &err) == -1) {
		fprintf(stderr, "%s: %s\n", progname(svc), err);
		return EXIT_USAGE;
	}
	for (i = 0; i < NFLAGS; i++) {
		if (opt.flags[i].value == NULL)
			continue;
		if (bh_config_set(opt.flags[i].var, opt.flags[i].name,
		    opt.flags[i].value, &err) == -1) {
			fprintf(stderr, "%s: %s\n", progname(svc), err);
			return EXIT_USAGE;
		}
	}

	if (svc->configure != NULL) {
		err = NULL;
		if (svc->configure(&err) == -1) {
			fprintf(stderr, "%s: %s\n", progname(svc),
			    err != NULL ? err : "invalid settings");
			return EXIT_USAGE;
		}
	}

	if (opt.command != NULL) {
		if (opt.command->run == NULL) {
			fprintf(stderr, "%s: %s is not available\n",
			    progname(svc), opt.command->name);
			return EXIT_USAGE;
		}
		rc = opt.command->run(opt.command_argc, opt.command_argv);
		fflush(stdout);
		return rc;
	}
	if (opt.migrate) {
		if (!svc->uses_db) {
			fprintf(stderr, "%s: the %s service has no database "
			    "to migrate\n", progname(svc), svc->name);
			return EXIT_USAGE;
		}
		return bh_migrate(bh_cfg.database_url, bh_cfg.sql_dir,
		    svc->name) == 0 ? 0 : 1;
	}
	if (check_routes(svc) == -1)
		return EXIT_USAGE;
	return serve(svc, opt.flags[FLAG_WORKERS].value != NULL);
}
