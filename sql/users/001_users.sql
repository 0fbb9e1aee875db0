-- 001_users.sql - the users service's accounts and the one-time codes
-- it mails (email verification, password reset).
--
-- The service normalises an email address before it stores or looks one
-- up (trimmed, lower-cased as a whole: handlers/users/accounts.c), so the
-- unique index on the stored value makes addresses unique whatever their
-- case.  Passwords are stored only as argon2id PHC strings; the codes only
-- as the SHA-256 of their text.

CREATE TABLE users (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	email text NOT NULL CHECK (octet_length(email) BETWEEN 3 AND 254),
	name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
	password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
	email_verified boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	password_changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX users_email_key ON users (email);

-- A code mailed to an address: single-use (used_at), short-lived
-- (expires_at), bound to the address it was sent to, so that a
-- verification code sent before an email change cannot verify the new
-- address.  Rows go with their account (ON DELETE CASCADE).
CREATE TABLE email_tokens (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	purpose text NOT NULL CHECK (purpose IN ('verify', 'reset')),
	token_hash text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
	email text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	used_at timestamptz
);

CREATE INDEX email_tokens_user_idx ON email_tokens (user_id, purpose)
	WHERE used_at IS NULL;
CREATE INDEX email_tokens_expires_idx ON email_tokens (expires_at);
