-- 002_limits.sql - rate limits of the public endpoints.
--
-- (Addresses are now normalised by the runtime, bh_email_normalize in
-- lib/email.c, as auth does: ASCII only, trimmed, lower-cased.  Rows
-- stored before under the older rules that the new ones refuse can no
-- longer be found by address; bellhop was never released with them.)
--
-- rate_counters: one fixed window per (kind, subject), subject being the
-- client address (kinds 'signup', 'mail', 'code': handlers/users/limits.c).
-- Windows past their end are swept now and then.
--
-- The mails per account are counted from email_tokens itself (the codes
-- made in the window), which needs an index on the account's codes of
-- every state; it serves the ON DELETE CASCADE from users as well.

CREATE TABLE rate_counters (
	kind text NOT NULL CHECK (kind IN ('signup', 'mail', 'code')),
	subject text NOT NULL,
	window_start timestamptz NOT NULL,
	count integer NOT NULL CHECK (count >= 0),
	PRIMARY KEY (kind, subject)
);

CREATE INDEX rate_counters_window_idx ON rate_counters (window_start);

CREATE INDEX email_tokens_user_created_idx
	ON email_tokens (user_id, purpose, created_at);
