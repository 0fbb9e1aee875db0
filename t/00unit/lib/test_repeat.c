/*
 * test_repeat.c - repeat.c: "NAME [--every SECONDS]" parsed, a round run
 * once or again until SIGTERM/SIGINT, and what the command returns.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "runner.h"

#define USAGE "bellhop-test reconcile [--every SECONDS]"
#define USAGE_LINE "usage: " USAGE "\n"
#define BAD_EVERY "bellhop-test: --every wants 1 to 86400 seconds\n"

/* What the test round was told and does. */
struct counter {
	int calls;
	int status;        /* returned by every round */
	int stop_at;       /* the round that raises stop_signal (0: none) */
	int stop_signal;
	pid_t killer;      /* a child sending SIGTERM during the pause */
	bool repeating;    /* as the last round was told */
	bool stopping;     /* bh_repeat_stopping() after the raise */
	bool pool_ok;      /* every round got a usable pool */
};

static int
count_round(bh_pool *pool, bool repeating, void *arg)
{
	struct counter *c = arg;
	const struct timespec wait = { 0, 300 * 1000000L };
	char *s;

	c->calls++;
	c->repeating = repeating;
	s = bh_psprintf(pool, "round %d", c->calls);
	if (s == NULL || strncmp(s, "round ", 6) != 0)
		c->pool_ok = false;
	if (c->calls == c->stop_at) {
		raise(c->stop_signal);
		c->stopping = bh_repeat_stopping();
	}
	if (c->calls == 1 && c->killer == -1) {
		/* Sent from outside while the command pauses after this
		 * round (its handler is installed by now). */
		if ((c->killer = fork()) == 0) {
			nanosleep(&wait, NULL);
			kill(getppid(), SIGTERM);
			_exit(0);
		}
	}
	return c->status;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs bh_repeat_command on the NULL-terminated args (argv[0] first)
 * with count_round; what it wrote on stderr lands in err. */
static int
run(const char *const *args, struct counter *c, char *err, size_t errlen)
{
	char *argv[8];
	FILE *tmp;
	size_t n;
	int argc, saved, rc;

	for (argc = 0; args[argc] != NULL && argc < 7; argc++)
		argv[argc] = strdup(args[argc]);
	argv[argc] = NULL;
	err[0] = '\0';
	fflush(stderr);
	tmp = tmpfile();
	saved = dup(STDERR_FILENO);
	if (tmp == NULL || saved == -1) {
		CU_FAIL_FATAL("no temporary file for stderr");
		return -1;
	}
	dup2(fileno(tmp), STDERR_FILENO);
	rc = bh_repeat_command(USAGE, argc, argv, count_round, c);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(err, 1, errlen - 1, tmp);
	err[n] = '\0';
	fclose(tmp);
	while (argc-- > 0)
		free(argv[argc]);
	return rc;
}

static void
counter_init(struct counter *c, int status)
{
	memset(c, 0, sizeof(*c));
	c->status = status;
	c->stop_signal = SIGTERM;
	c->pool_ok = true;
}

/* Each of cases: exit 2 with message, no round run. */
static void
expect_refused(const char *const cases[][6], size_t ncases,
    const char *message)
{
	struct counter c;
	char err[512];
	size_t i;
	int rc;

	for (i = 0; i < ncases; i++) {
		counter_init(&c, 0);
		rc = run(cases[i], &c, err, sizeof(err));
		CU_ASSERT_EQUAL(rc, 2);
		CU_ASSERT_EQUAL(c.calls, 0);
		if (strcmp(err, message) != 0) {
			fprintf(stderr, "\n  case %zu: got \"%s\"\n", i, err);
			CU_FAIL("message");
		}
	}
}

static void
test_usage_errors(void)
{
	static const char *const cases[][6] = {
		{ "reconcile", "--every", NULL },
		{ "reconcile", "extra", NULL },
		{ "reconcile", "", NULL },
		{ "reconcile", "--every", "5", "extra", NULL },
		{ "reconcile", "--every", "5", "--every", NULL },
		{ "reconcile", "5", NULL },
		{ "reconcile", "-every", "5", NULL },
		{ "reconcile", "--Every", "5", NULL },
		{ "reconcile", "--every=5", NULL },
		{ "reconcile", "--help", NULL },
	};

	expect_refused(cases, sizeof(cases) / sizeof(cases[0]), USAGE_LINE);
}

static void
test_bad_seconds(void)
{
	static const char *const cases[][6] = {
		{ "reconcile", "--every", "0", NULL },
		{ "reconcile", "--every", "86401", NULL },
		{ "reconcile", "--every", "-1", NULL },
		{ "reconcile", "--every", "+5", NULL },
		{ "reconcile", "--every", " 5", NULL },
		{ "reconcile", "--every", "5 ", NULL },
		{ "reconcile", "--every", "", NULL },
		{ "reconcile", "--every", "abc", NULL },
		{ "reconcile", "--every", "1x", NULL },
		{ "reconcile", "--every", "3.5", NULL },
		{ "reconcile", "--every", "1e3", NULL },
		{ "reconcile", "--every", "0x10", NULL },
		{ "reconcile", "--every", "99999999999999999999", NULL },
		{ "reconcile", "--every", "5", "--every", "0", NULL },
	};

	expect_refused(cases, sizeof(cases) / sizeof(cases[0]), BAD_EVERY);
}

static void
test_once(void)
{
	static const char *const args[] = { "reconcile", NULL };
	struct sigaction sa;
	struct counter c;
	char err[512];

	counter_init(&c, 7);
	CU_ASSERT_EQUAL(run(args, &c, err, sizeof(err)), 7);
	CU_ASSERT_EQUAL(c.calls, 1);
	CU_ASSERT_FALSE(c.repeating);
	CU_ASSERT_TRUE(c.pool_ok);
	CU_ASSERT_FALSE(bh_repeat_stopping());

	counter_init(&c, 0);
	CU_ASSERT_EQUAL(run(args, &c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.calls, 1);

	/* A stop during the only round changes nothing. */
	counter_init(&c, 1);
	c.stop_at = 1;
	CU_ASSERT_EQUAL(run(args, &c, err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(c.calls, 1);
	CU_ASSERT_TRUE(c.stopping);

	/* A closed pipe is an error to write, not a death. */
	CU_ASSERT_EQUAL(sigaction(SIGPIPE, NULL, &sa), 0);
	CU_ASSERT_TRUE(sa.sa_handler == SIG_IGN);
}

/* --every 1, SIGTERM (or SIGINT) raised in round 3: three rounds, two
 * pauses of a second, none after the stopping round, exit 0 whatever
 * the rounds returned. */
static void
repeat_until(int sig)
{
	static const char *const args[] = { "reconcile", "--every", "1",
	    NULL };
	struct counter c;
	char err[512];
	double start, took;

	counter_init(&c, 1);
	c.stop_at = 3;
	c.stop_signal = sig;
	start = now_seconds();
	CU_ASSERT_EQUAL(run(args, &c, err, sizeof(err)), 0);
	took = now_seconds() - start;
	CU_ASSERT_EQUAL(c.calls, 3);
	CU_ASSERT_TRUE(c.repeating);
	CU_ASSERT_TRUE(c.stopping);
	CU_ASSERT_TRUE(c.pool_ok);
	CU_ASSERT_TRUE(took >= 1.9 && took < 3.5);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "reconcile loop started: "
	    "every 1 s"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "reconcile loop stopping"));
}

static void
test_repeat_sigterm(void)
{
	repeat_until(SIGTERM);
}

static void
test_repeat_sigint(void)
{
	repeat_until(SIGINT);
}

/* A stop asked for by an earlier call is forgotten by the next one. */
static void
test_new_call_not_stopped(void)
{
	static const char *const args[] = { "reconcile", "--every", "1",
	    NULL };
	struct counter c;
	char err[512];

	CU_ASSERT_TRUE(bh_repeat_stopping());
	counter_init(&c, 0);
	c.stop_at = 2;
	CU_ASSERT_EQUAL(run(args, &c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.calls, 2);
}

/* --every 60 and a SIGTERM from another process 0.3 s into the pause:
 * the pause ends at once, no round follows. */
static void
test_stop_during_pause(void)
{
	static const char *const args[] = { "reconcile", "--every", "60",
	    NULL };
	struct counter c;
	char err[512];
	double start, took;
	int status;

	counter_init(&c, 0);
	c.killer = -1;
	start = now_seconds();
	CU_ASSERT_EQUAL(run(args, &c, err, sizeof(err)), 0);
	took = now_seconds() - start;
	CU_ASSERT_EQUAL(c.calls, 1);
	CU_ASSERT_TRUE(c.killer > 0);
	CU_ASSERT_TRUE(took >= 0.25 && took < 2.0);
	if (c.killer > 0) {
		CU_ASSERT_EQUAL(waitpid(c.killer, &status, 0), c.killer);
		CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

/* 1 to 86400 seconds are accepted (each run stopped in its first
 * round). */
static void
test_seconds_accepted(void)
{
	static const char *const cases[][4] = {
		{ "reconcile", "--every", "1", NULL },
		{ "reconcile", "--every", "86400", NULL },
		{ "reconcile", "--every", "007", NULL },
	};
	struct counter c;
	char err[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		counter_init(&c, 0);
		c.stop_at = 1;
		CU_ASSERT_EQUAL(run(cases[i], &c, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(c.calls, 1);
		CU_ASSERT_TRUE(c.repeating);
	}
}

int
bh_test_register(void)
{
	static const CU_TestInfo repeat[] = {
		{ "usage errors", test_usage_errors },
		{ "bad --every seconds", test_bad_seconds },
		{ "once: the round's status", test_once },
		{ "repeat until SIGTERM", test_repeat_sigterm },
		{ "repeat until SIGINT", test_repeat_sigint },
		{ "a new call is not stopped", test_new_call_not_stopped },
		{ "SIGTERM during a pause", test_stop_during_pause },
		{ "seconds accepted", test_seconds_accepted },
		CU_TEST_INFO_NULL,
	};

	return bh_test_add_suite("repeat", repeat);
}
