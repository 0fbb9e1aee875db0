/*
 * main.c - bellhop-payments: charges and refunds through the bank,
 * exactly once.  Its routes (relative to the base path, /payments by
 * default), its settings and the reconcile command.  /health and /ready
 * come with the runtime.
 *
 * Only services call it (client credentials): reservations charges with
 * scope payments:charge and refunds with payments:refund.  A client sees
 * only the payments it made (another's id is a 404).
 */
#include <string.h>

#include "payments.h"

static const bh_route routes[] = {
	{ BH_POST, "/payments", payment_post, payment_post_params, BH_TOKEN,
	    "payments:charge" },
	{ BH_GET, "/payments", payment_find, payment_find_params, BH_TOKEN,
	    "payments:charge" },
	{ BH_GET, "/payments/{id}", payment_get, payment_get_params, BH_TOKEN,
	    "payments:charge" },
	{ BH_POST, "/payments/{id}/refunds", refund_post, refund_post_params,
	    BH_TOKEN, "payments:refund" },
	{ 0, NULL, NULL, NULL, BH_ACCESS_UNDECLARED, NULL }
};

static const bh_command commands[] = {
	{ "reconcile", "reconcile    settle pending payments and refunds by "
	    "asking the bank; send due receipts\n"
	    "reconcile --every SECONDS    the same, every SECONDS until "
	    "SIGTERM", reconcile_command },
	{ NULL, NULL, NULL }
};

/* True if s may go into a header value: printable ASCII, no space. */
static bool
header_token(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static int
configure(const char **err)
{
	const bh_int_setting ints[] = {
		/* A card payment takes a few seconds at worst.  The ceiling:
		 * the front ends here give up on a FastCGI answer after 30 s
		 * (nginx fastcgi_read_timeout, Apache IOTimeout and
		 * timeout=) and reservations after BH_PAYMENTS_TIMEOUT, 30 s
		 * by default.  A bank call must end, and its 202 reach the
		 * caller, before either does, with room for the database. */
		{ "BH_BANK_TIMEOUT", 10000, 100, 25000,
		    &pay_cfg.bank_timeout_ms },
		/* The documented ceiling by default; the bank's own above. */
		{ "BH_PAYMENT_MAX_AMOUNT", 100000000, 1, 99999999999LL,
		    &pay_cfg.max_amount },
		{ NULL, 0, 0, 0, NULL }
	};
	static char url[1024];
	const char *value;
	size_t len;

	/* The request fingerprint stored with each idempotency key hashes
	 * the body, card number included: keyed with the client secret it
	 * is an HMAC nobody can match against a list of card numbers;
	 * without one it would be plain SHA-256.  Refuse to run unkeyed. */
	if (bh_cfg.client_secret == NULL || bh_cfg.client_secret[0] == '\0') {
		*err = "BH_CLIENT_SECRET or BH_CLIENT_SECRET_FILE is required: "
		    "the request fingerprints stored with idempotency keys "
		    "are keyed with it, so that a body holding a card number "
		    "is never hashed without a key";
		return -1;
	}

	value = bh_env_str("BH_BANK_URL", NULL);
	if (value == NULL) {
		*err = "BH_BANK_URL is required: the bank's base URL, such as "
		    "http://127.0.0.1:8402";
		return -1;
	}
	len = strlen(value);
	while (len > 0 && value[len - 1] == '/')
		len--;
	if ((strncmp(value, "http://", 7) != 0 &&
	    strncmp(value, "https://", 8) != 0) || len >= sizeof(url) ||
	    !header_token(value)) {
		*err = "BH_BANK_URL must be an http:// or https:// URL";
		return -1;
	}
	memcpy(url, value, len);
	url[len] = '\0';
	pay_cfg.bank_url = url;

	*err = NULL;
	pay_cfg.bank_secret = bh_env_secret("BH_BANK_SECRET_KEY", err);
	if (pay_cfg.bank_secret == NULL) {
		if (*err == NULL)
			*err = "BH_BANK_SECRET_KEY or BH_BANK_SECRET_KEY_FILE "
			    "is required: the bank's secret key";
		return -1;
	}
	if (pay_cfg.bank_secret[0] == '\0' ||
	    strlen(pay_cfg.bank_secret) > 512 ||
	    !header_token(pay_cfg.bank_secret)) {
		*err = "BH_BANK_SECRET_KEY must be 1 to 512 printable ASCII "
		    "characters without spaces";
		return -1;
	}
	return bh_env_ints(ints, err);
}

static const bh_service service = {
	.name = "payments",
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
