/*
 * repeat.c - the body of a command "NAME [--every SECONDS]" that runs a
 * round of work once, or again and again until SIGTERM or SIGINT, as
 * the reconcile commands of payments and reservations do.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* The longest pause between rounds: a day. */
#define REPEAT_MAX_SECONDS 86400L

static volatile sig_atomic_t stop_requested;

static void
on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

bool
bh_repeat_stopping(void)
{
	return stop_requested != 0;
}

/* Sleeps seconds in short steps, so that a stop ends it within one. */
static void
pause_for(long seconds)
{
	const struct timespec step = { 0, 100 * 1000000L };
	long steps = seconds * 10;

	while (steps-- > 0 && !stop_requested)
		nanosleep(&step, NULL);
}

/* The seconds of "--every SECONDS": digits only, 1 to a day, or -1. */
static long
parse_seconds(const char *s)
{
	char *end;
	long n;

	/* strtol would take leading spaces and a sign as well */
	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > REPEAT_MAX_SECONDS)
		return -1;
	return n;
}

int
bh_repeat_command(const char *usage, int argc, char **argv,
    bh_round_fn round, void *arg)
{
	struct sigaction sa;
	bh_pool *pool;
	long every = 0;
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--every") != 0 || i + 1 == argc) {
			fprintf(stderr, "usage: %s\n", usage);
			return 2;
		}
		if ((every = parse_seconds(argv[++i])) == -1) {
			/* usage starts with the program's name */
			fprintf(stderr, "%.*s: --every wants 1 to %ld "
			    "seconds\n", (int)strcspn(usage, " "), usage,
			    REPEAT_MAX_SECONDS);
			return 2;
		}
	}

	/* A stop asked for in an earlier call (a test's) is over. */
	stop_requested = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* No SA_RESTART: a signal cuts the step of a pause short. */
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	pool = bh_pool_new();
	if (every > 0)
		bh_log(BH_LOG_INFO, "%s loop started: every %ld s", argv[0],
		    every);
	for (;;) {
		rc = round(pool, every > 0, arg);
		bh_pool_reset(pool);
		if (every == 0 || stop_requested)
			break;
		pause_for(every);
		if (stop_requested)
			break;
	}
	bh_db_close();
	bh_pool_free(pool);
	if (every > 0) {
		bh_log(BH_LOG_INFO, "%s loop stopping", argv[0]);
		rc = 0;
	}
	return rc;
}
