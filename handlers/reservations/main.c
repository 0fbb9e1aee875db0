/*
 * main.c - bellhop-reservations: its routes (relative to the base path,
 * /reservations by default), its settings and its command.  /health and
 * /ready come with the runtime.
 *
 * A guest's routes take a person's token with the scope "bookings" (its
 * sub is the guest); /internal/availability is search's alone (scope
 * reservations:availability).
 */
#include "reservations.h"

struct resv_settings resv_cfg;

#define BOOKINGS "bookings"

static const bh_route routes[] = {
	{ BH_POST, "/reservations", resv_create, resv_create_params,
	    BH_TOKEN, BOOKINGS },
	{ BH_GET, "/reservations", resv_list, resv_list_params,
	    BH_TOKEN, BOOKINGS },
	{ BH_GET, "/reservations/{id}", resv_get, NULL, BH_TOKEN, BOOKINGS },
	{ BH_POST, "/reservations/{id}/payment", resv_pay, resv_pay_params,
	    BH_TOKEN, BOOKINGS },
	{ BH_GET, "/reservations/{id}/receipt", resv_receipt, NULL,
	    BH_TOKEN, BOOKINGS },
	{ BH_POST, "/reservations/{id}/cancel", resv_cancel, NULL,
	    BH_TOKEN, BOOKINGS },
	{ BH_POST, "/internal/availability", resv_availability,
	    resv_availability_params, BH_TOKEN, "reservations:availability" },
	{ 0, NULL, NULL, NULL, BH_ACCESS_UNDECLARED, NULL }
};

static const bh_command commands[] = {
	{ "reconcile", "reconcile [--every SECONDS]  settle pending payments,"
	    " finish receipts, emails and refunds", resv_reconcile_command },
	{ NULL, NULL, NULL }
};

static int
resv_configure(const char **err)
{
	const bh_int_setting ints[] = {
		{ "BH_HOLD_SECONDS", 600, 1, 86400, &resv_cfg.hold_seconds },
		{ "BH_MAX_NIGHTS", 30, 1, 365, &resv_cfg.max_nights },
		{ "BH_MAX_ADVANCE_DAYS", 730, 0, 3650,
		    &resv_cfg.max_advance_days },
		{ "BH_CANCEL_FREE_HOURS", 48, 0, 8760,
		    &resv_cfg.cancel_free_hours },
		{ "BH_CANCEL_GRACE_MINUTES", 60, 0, 10080,
		    &resv_cfg.cancel_grace_minutes },
		/* a payment request must end before the front end's 30 s */
		{ "BH_PAYMENTS_TIMEOUT", 20000, 1000, 20000,
		    &resv_cfg.payments_timeout_ms },
		{ "BH_PAYMENT_SETTLE_SECONDS", 60, 1, 86400,
		    &resv_cfg.payment_settle_seconds },
		{ "BH_PAY_ATTEMPTS", 5, 1, 100, &resv_cfg.pay_attempts },
		{ "BH_MAX_LIVE_HOLDS", 5, 1, 100000,
		    &resv_cfg.max_live_holds },
		/* payments' own setting, read with its default: a total it
		 * would refuse is refused at hold time */
		{ "BH_PAYMENT_MAX_AMOUNT", 100000000, 1, 99999999999LL,
		    &resv_cfg.payment_max_amount },
		{ NULL, 0, 0, 0, NULL }
	};

	if (bh_env_ints(ints, err) == -1)
		return -1;
	/* an attempt is "maybe in flight" at least as long as its call */
	if (resv_cfg.payment_settle_seconds * 1000 <
	    resv_cfg.payments_timeout_ms) {
		*err = "BH_PAYMENT_SETTLE_SECONDS must be at least "
		    "BH_PAYMENTS_TIMEOUT (in seconds)";
		return -1;
	}
	return 0;
}

static const bh_service service = {
	.name = "reservations",
	.routes = routes,
	.uses_db = true,
	.worker_init = NULL,
	.configure = resv_configure,
	.commands = commands,
};

int
main(int argc, char **argv)
{
	return bh_main(&service, argc, argv);
}
