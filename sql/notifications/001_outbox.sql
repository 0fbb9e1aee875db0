-- 001_outbox.sql - the email outbox: messages as accepted by
-- POST /notifications/emails, their attachments, and every delivery attempt.
--
-- Runs inside one transaction as the database owner (bellhop_notifications).
--
-- A message is stored first and delivered after, by
-- `bellhop-notifications deliver` (handlers/notifications/deliver.c), which
-- takes due rows one at a time with SELECT ... FOR UPDATE SKIP LOCKED and
-- holds the row lock while it talks SMTP: a worker that dies mid-send has its
-- transaction rolled back, and the message stays queued for another worker.

CREATE TABLE emails (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	-- the OAuth2 client that sent it (the token's client_id): only it may
	-- read it back, and its idempotency keys are its own
	client_id text NOT NULL CHECK (char_length(client_id) BETWEEN 1 AND 255),
	idempotency_key text NOT NULL
		CHECK (idempotency_key ~ '^[\x20-\x7e]{1,255}$'),
	-- SHA-256 (hex) of the request body: the same key with another body is
	-- refused
	request_sha256 text NOT NULL CHECK (request_sha256 ~ '^[0-9a-f]{64}$'),
	-- the first answer, replayed for the same key and body
	response_status integer NOT NULL DEFAULT 202,
	response_body text,
	to_address text NOT NULL CHECK (octet_length(to_address) BETWEEN 3 AND 254),
	subject text NOT NULL CHECK (octet_length(subject) BETWEEN 1 AND 998),
	body_text text NOT NULL,
	body_html text,
	status text NOT NULL DEFAULT 'queued'
		CHECK (status IN ('queued', 'sent', 'failed')),
	attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	created_at timestamptz NOT NULL DEFAULT now(),
	sent_at timestamptz,
	failed_at timestamptz,
	last_error text,
	UNIQUE (client_id, idempotency_key)
);

-- What the delivery workers look for: queued and due, oldest first.
CREATE INDEX emails_due ON emails (next_attempt_at, id) WHERE status = 'queued';
-- What purge looks for.
CREATE INDEX emails_done ON emails (created_at) WHERE status <> 'queued';

CREATE TABLE email_attachments (
	email_id bigint NOT NULL REFERENCES emails (id) ON DELETE CASCADE,
	position integer NOT NULL CHECK (position BETWEEN 0 AND 9),
	filename text NOT NULL CHECK (octet_length(filename) BETWEEN 1 AND 255),
	content_type text NOT NULL CHECK (octet_length(content_type) BETWEEN 3 AND 255),
	content bytea NOT NULL,
	PRIMARY KEY (email_id, position)
);

CREATE TABLE email_attempts (
	email_id bigint NOT NULL REFERENCES emails (id) ON DELETE CASCADE,
	attempt integer NOT NULL CHECK (attempt >= 1),
	attempted_at timestamptz NOT NULL DEFAULT now(),
	-- sent; temporary (retried later); permanent (given up)
	result text NOT NULL CHECK (result IN ('sent', 'temporary', 'permanent')),
	smtp_code integer CHECK (smtp_code BETWEEN 100 AND 599),
	error text,
	PRIMARY KEY (email_id, attempt)
);

-- Wakes the delivery workers (LISTEN notifications_outbox) when a message
-- is queued; they also poll, so a lost notification only delays.
CREATE FUNCTION emails_notify() RETURNS trigger
	LANGUAGE plpgsql
	AS $$
BEGIN
	PERFORM pg_notify('notifications_outbox', '');
	RETURN NULL;
END
$$;

CREATE TRIGGER emails_notify AFTER INSERT ON emails
	FOR EACH STATEMENT EXECUTE FUNCTION emails_notify();
