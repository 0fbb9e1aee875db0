/*
 * main.c - bellhop-notifications, the email outbox: its routes (relative
 * to the base path, /notifications by default), its settings and its
 * commands.  /health and /ready come with the runtime.
 */
#include <string.h>

#include "notifications.h"

struct notif_config notif_cfg;

static const bh_route routes[] = {
	{ BH_POST, "/emails", email_post, NULL, BH_TOKEN,
	    "notifications:send" },
	{ BH_GET, "/emails/{id:int}", email_get, email_get_params, BH_TOKEN,
	    "notifications:send" },
	{ 0, NULL, NULL, NULL, BH_ACCESS_UNDECLARED, NULL }
};

static const bh_command commands[] = {
	{ "deliver", "deliver [--once]    send queued email over SMTP "
	    "(SIGTERM stops it)", deliver_command },
	{ "purge", "purge --days N      delete sent and failed email older "
	    "than N days", purge_command },
	{ "requeue", "requeue [--id N | --failed-since SECONDS]  queue failed "
	    "email again", requeue_command },
	{ NULL, NULL, NULL }
};

/* Display-name characters accepted in BH_MAIL_FROM: RFC 5322 atext,
 * space and '.', so the header needs no quoting or encoding. */
static bool
display_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == ' ' || c == '.' ||
	    (c != '\0' && strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

/* Checks BH_MAIL_FROM ("addr" or "Name <addr>") and keeps its address for
 * MAIL FROM and its domain for Message-IDs.  Returns 0 or -1. */
static int
parse_mail_from(const char *from)
{
	const char *addr = from, *open, *end, *p;
	size_t len;

	if ((open = strrchr(from, '<')) != NULL) {
		for (p = from; p < open; p++)
			if (!display_char(*p))
				return -1;
		addr = open + 1;
		if ((end = strchr(addr, '>')) == NULL || end[1] != '\0')
			return -1;
		len = (size_t)(end - addr);
	} else
		len = strlen(addr);
	if (!mail_address_valid(addr, len))
		return -1;
	memcpy(notif_cfg.from_address, addr, len);
	notif_cfg.from_address[len] = '\0';
	notif_cfg.from_domain = strchr(notif_cfg.from_address, '@') + 1;
	return 0;
}

static int
configure(const char **err)
{
	long long smtp_timeout, poll_ms, retry_base, retry_max, max_attempts,
	    max_age, failed_body_retention;
	const bh_int_setting ints[] = {
		{ "BH_SMTP_TIMEOUT", 30, 1, 600, &smtp_timeout },
		{ "BH_DELIVERY_POLL_MS", 1000, 10, 60000, &poll_ms },
		{ "BH_DELIVERY_RETRY_BASE", 2, 0, 3600, &retry_base },
		{ "BH_DELIVERY_RETRY_MAX", 3600, 1, 86400, &retry_max },
		{ "BH_DELIVERY_MAX_ATTEMPTS", 8, 1, 100, &max_attempts },
		/* Two days, an MTA's usual queue lifetime; up to a year. */
		{ "BH_DELIVERY_MAX_AGE", 172800, 1, 31536000, &max_age },
		/* A week to requeue a failed message before its body goes. */
		{ "BH_FAILED_BODY_RETENTION", 604800, 0, 31536000,
		    &failed_body_retention },
		{ NULL, 0, 0, 0, NULL }
	};
	const char *tls;

	notif_cfg.smtp_url = bh_env_str("BH_SMTP_URL",
	    "smtp://127.0.0.1:2525");
	if (strncmp(notif_cfg.smtp_url, "smtp://", 7) != 0 &&
	    strncmp(notif_cfg.smtp_url, "smtps://", 8) != 0) {
		*err = "BH_SMTP_URL must be an smtp:// or smtps:// URL";
		return -1;
	}
	notif_cfg.smtp_user = bh_env_str("BH_SMTP_USER", NULL);
	*err = NULL;
	notif_cfg.smtp_password = bh_env_secret("BH_SMTP_PASSWORD", err);
	if (notif_cfg.smtp_password == NULL && *err != NULL)
		return -1;
	if (notif_cfg.smtp_user == NULL && notif_cfg.smtp_password != NULL) {
		*err = "BH_SMTP_PASSWORD is set but BH_SMTP_USER is not";
		return -1;
	}
	notif_cfg.smtp_ca_file = bh_env_str("BH_SMTP_CA_FILE", NULL);
	tls = bh_env_str("BH_SMTP_TLS", "try");
	if (strcmp(tls, "try") == 0)
		notif_cfg.smtp_tls_required = false;
	else if (strcmp(tls, "require") == 0)
		notif_cfg.smtp_tls_required = true;
	else {
		*err = "BH_SMTP_TLS must be try or require";
		return -1;
	}
	notif_cfg.mail_from = bh_env_str("BH_MAIL_FROM",
	    "bellhop <noreply@bellhop.invalid>");
	if (parse_mail_from(notif_cfg.mail_from) == -1) {
		*err = "BH_MAIL_FROM must be an address or "
		    "\"Name <address>\" in plain ASCII";
		return -1;
	}
	if (bh_env_ints(ints, err) == -1)
		return -1;
	/* The ranges above fit a long. */
	notif_cfg.smtp_timeout = (long)smtp_timeout;
	notif_cfg.poll_ms = (long)poll_ms;
	notif_cfg.retry_base = (long)retry_base;
	notif_cfg.retry_max = (long)retry_max;
	notif_cfg.max_attempts = (long)max_attempts;
	notif_cfg.max_age = (long)max_age;
	notif_cfg.failed_body_retention = (long)failed_body_retention;
	return 0;
}

static const bh_service service = {
	.name = "notifications",
	.routes = routes,
	.uses_db = true,
	.worker_init = NULL,
	.configure = configure,
	.commands = commands,
};

int
main(int argc, char **argv)
{
	return bh_main(&service, argc, argv);
}
