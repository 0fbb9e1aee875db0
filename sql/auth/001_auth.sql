-- auth: the OAuth2 authorization server's own data (docs/auth.md).
--
-- Secrets of every kind (client secrets, authorization codes, refresh
-- tokens) are high-entropy random strings stored as their SHA-256 in hex:
-- a leaked table gives nothing to present.  Only the signing keys' seeds
-- are stored as they are, since signing needs them.

-- Ed25519 signing keys.  'next': published in the JWKS, not signing yet;
-- 'current': signing (at most one); 'retired': published until
-- unpublish_at, when the last token it signed has expired.
CREATE TABLE signing_keys (
	kid text PRIMARY KEY CHECK (kid ~ '^[A-Za-z0-9_-]{1,64}$'),
	private_key bytea NOT NULL CHECK (octet_length(private_key) = 32),
	public_key bytea NOT NULL CHECK (octet_length(public_key) = 32),
	state text NOT NULL CHECK (state IN ('next', 'current', 'retired')),
	created_at timestamptz NOT NULL DEFAULT now(),
	activated_at timestamptz,
	retired_at timestamptz,
	unpublish_at timestamptz,
	CHECK (state <> 'retired' OR unpublish_at IS NOT NULL)
);
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys ((true))
	WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys ((true))
	WHERE state = 'next';

-- Registered clients, all confidential.  A client with redirect URIs uses
-- the authorization_code and refresh_token grants, one without uses
-- client_credentials (grant_types says which).
CREATE TABLE clients (
	client_id text PRIMARY KEY CHECK (client_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
	secret_hash text NOT NULL CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
	scopes text[] NOT NULL DEFAULT '{}',
	audiences text[] NOT NULL DEFAULT '{}',
	redirect_uris text[] NOT NULL DEFAULT '{}',
	grant_types text[] NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

-- One per successful authorization-code exchange: every refresh token
-- rotated from it, and every access token issued from it, belongs to it,
-- so that a reused code or a reused refresh token revokes all of them.
CREATE TABLE grant_families (
	id bigserial PRIMARY KEY,
	client_id text NOT NULL REFERENCES clients ON DELETE CASCADE,
	sub text NOT NULL,
	scope text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	revoked_at timestamptz
);

CREATE TABLE authorization_codes (
	code_hash text PRIMARY KEY CHECK (code_hash ~ '^[0-9a-f]{64}$'),
	client_id text NOT NULL REFERENCES clients ON DELETE CASCADE,
	sub text NOT NULL,
	redirect_uri text NOT NULL,
	scope text NOT NULL,
	code_challenge text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	used_at timestamptz,
	family_id bigint REFERENCES grant_families ON DELETE SET NULL
);
CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);

CREATE TABLE refresh_tokens (
	token_hash text PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
	family_id bigint NOT NULL REFERENCES grant_families ON DELETE CASCADE,
	scope text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	used_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Every access token issued, by jti, until it expires: introspection and
-- revocation consult it (resource servers verify tokens locally; the
-- short lifetime bounds how long a revoked one still works there).
CREATE TABLE access_tokens (
	jti text PRIMARY KEY,
	client_id text NOT NULL,
	sub text NOT NULL,
	family_id bigint REFERENCES grant_families ON DELETE CASCADE,
	scope text NOT NULL,
	issued_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	revoked_at timestamptz
);
CREATE INDEX access_tokens_family ON access_tokens (family_id)
	WHERE family_id IS NOT NULL;
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);

-- Sign-in rate limits, one fixed window per subject: kind 'account'
-- counts failed sign-ins per normalised email (stored as its SHA-256, so
-- the table names nobody), 'address' counts attempts per client address.
CREATE TABLE signin_counters (
	kind text NOT NULL CHECK (kind IN ('account', 'address')),
	subject text NOT NULL,
	window_start timestamptz NOT NULL,
	count integer NOT NULL CHECK (count >= 0),
	PRIMARY KEY (kind, subject)
);
