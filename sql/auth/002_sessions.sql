-- auth: sessions with an end, revoking a person's sessions, sign-in
-- limits per account and address, and key lifetimes that do not depend on
-- the environment of the command that retires a key (docs/auth.md).

-- A session (grant family) ends BH_SESSION_MAX_AGE after the code
-- exchange that began it, however often it is refreshed.  Families made
-- before this column existed get the default of 30 days.
ALTER TABLE grant_families ADD COLUMN expires_at timestamptz;
UPDATE grant_families SET expires_at = created_at + interval '30 days';
ALTER TABLE grant_families ALTER COLUMN expires_at SET NOT NULL;

-- POST /internal/revoke-user finds a person's families, access tokens and
-- unused codes by user id; client removal finds a client's access tokens.
CREATE INDEX grant_families_sub ON grant_families (sub)
	WHERE revoked_at IS NULL;
CREATE INDEX access_tokens_sub ON access_tokens (sub)
	WHERE revoked_at IS NULL;
CREATE INDEX access_tokens_client ON access_tokens (client_id)
	WHERE revoked_at IS NULL;
CREATE INDEX authorization_codes_sub ON authorization_codes (sub)
	WHERE used_at IS NULL;

-- Failed sign-ins are counted per account over all addresses ('account')
-- and per account and client address ('account_address', the SHA-256 of
-- the normalised email, a newline and the address), beside the attempts
-- per address ('address').
ALTER TABLE signin_counters DROP CONSTRAINT signin_counters_kind_check;
ALTER TABLE signin_counters ADD CONSTRAINT signin_counters_kind_check
	CHECK (kind IN ('account', 'account_address', 'address'));

-- The longest a token signed with the key may be accepted after it was
-- signed (access-token TTL plus leeway), as the services that signed
-- with it had it: recorded at activation and raised by a signing process
-- whose TTL is longer.  A retired key stays published that long after
-- its retirement.  0: not recorded (the retiring command's own settings
-- are used).
ALTER TABLE signing_keys ADD COLUMN token_lifetime integer NOT NULL
	DEFAULT 0 CHECK (token_lifetime >= 0);
