/*
 * notifications.h - the notifications service: an email outbox.
 *
 * POST /emails stores a message (emails.c); `bellhop-notifications
 * deliver` sends what is queued over SMTP with libcurl (deliver.c),
 * building each message with mime.c; the operator's commands purge and
 * requeue are there too.  sql/notifications/ holds the tables.
 */
#ifndef NOTIFICATIONS_H
#define NOTIFICATIONS_H

#include <time.h>

#include "bellhop.h"

/* Limits of what POST /emails accepts (docs/notifications.md). */
#define MAIL_MAX_ADDRESS 254            /* octets, RFC 5321 path limit */
#define MAIL_MAX_SUBJECT 998            /* octets, RFC 5322 line limit */
#define MAIL_MAX_BODY (1024 * 1024)     /* text, and html, each */
#define MAIL_MAX_ATTACHMENTS 10
#define MAIL_MAX_FILENAME 255
#define MAIL_MAX_CONTENT_TYPE 255
#define MAIL_MAX_ATTACHED (10 * 1024 * 1024) /* decoded, all attachments */
#define MAIL_MAX_IDEMPOTENCY_KEY 255

/* The service's own settings, read by the configure hook (main.c). */
struct notif_config {
	const char *smtp_url;      /* BH_SMTP_URL */
	const char *smtp_user;     /* BH_SMTP_USER, NULL = no AUTH */
	char *smtp_password;       /* BH_SMTP_PASSWORD(_FILE) */
	const char *smtp_ca_file;  /* BH_SMTP_CA_FILE, NULL = system CAs */
	bool smtp_tls_required;    /* BH_SMTP_TLS=require (else try) */
	long smtp_timeout;         /* BH_SMTP_TIMEOUT seconds */
	const char *mail_from;     /* BH_MAIL_FROM, as the From: header */
	char from_address[MAIL_MAX_ADDRESS + 1]; /* its addr-spec: MAIL FROM */
	const char *from_domain;   /* points into from_address: Message-IDs */
	long poll_ms;              /* BH_DELIVERY_POLL_MS */
	long retry_base;           /* BH_DELIVERY_RETRY_BASE seconds */
	long retry_max;            /* BH_DELIVERY_RETRY_MAX seconds */
	long max_attempts;         /* BH_DELIVERY_MAX_ATTEMPTS: refusals */
	long max_age;              /* BH_DELIVERY_MAX_AGE seconds in the queue */
	long failed_body_retention; /* BH_FAILED_BODY_RETENTION seconds */
};

extern struct notif_config notif_cfg;

/* emails.c: POST /emails and GET /emails/{id}. */
extern const bh_param email_get_params[];
int email_post(bh_request *req);
int email_get(bh_request *req);

/* mime.c: true if s[0..len) is one plain address local@domain that we
 * send to: printable ASCII without space, quotes, CR/LF, commas, angle
 * brackets, parentheses, semicolons or backslashes, one '@', a non-empty
 * local part of at most 64 octets, a domain of dot-separated labels of
 * letters, digits and '-' (no IP literal), at most MAIL_MAX_ADDRESS
 * octets in all.  Internationalised addresses (SMTPUTF8) are refused. */
bool mail_address_valid(const char *s, size_t len);

/* deliver.c: the commands "deliver [--once]", "purge --days N" and
 * "requeue [--id N | --failed-since SECONDS]". */
int deliver_command(int argc, char **argv);
int purge_command(int argc, char **argv);
int requeue_command(int argc, char **argv);

/* mime.c: one attachment, its bytes decoded. */
struct mime_attachment {
	const char *filename;      /* already sanitised */
	const char *content_type;  /* type/subtype */
	const unsigned char *data;
	size_t len;
};

struct mime_message {
	const char *from;          /* the From: header's value, ASCII */
	const char *to;            /* one address */
	const char *subject;       /* UTF-8, no CR/LF */
	const char *message_id;    /* "<...>" */
	time_t date;
	const char *text;          /* UTF-8 */
	const char *html;          /* UTF-8 or NULL */
	const struct mime_attachment *attachments;
	size_t nattachments;
	const char *boundary_seed; /* makes the boundaries; unique per message */
};

/* Builds msg as an RFC 5322 message with CRLF line endings: headers
 * (Date, From, To, Subject RFC 2047-encoded when not plain ASCII,
 * Message-ID, MIME-Version), text/plain alone or multipart/alternative
 * with text/html, inside multipart/mixed when there are attachments;
 * bodies quoted-printable, attachments base64.  Lines are at most 998
 * octets; leading dots are left as they are (the SMTP client stuffs
 * them).  Returns the message owned by pool, its length in *len. */
char *mime_build(bh_pool *pool, const struct mime_message *msg, size_t *len);

/* mime.c: name[0..len) made safe as an attachment's file name: only
 * what follows the last '/' or '\\', control characters, quotes, '\\'
 * and ';' replaced by '_', leading dots dropped.  Returns a string owned
 * by pool, or NULL when nothing usable is left or name is not UTF-8. */
char *mime_filename_sanitise(bh_pool *pool, const char *name, size_t len);
/* mime.c: true if s is "type/subtype" made of RFC 2045 token characters,
 * without parameters. */
bool mime_content_type_valid(const char *s, size_t len);

#endif
