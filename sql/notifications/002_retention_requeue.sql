-- 002_retention_requeue.sql - what the delivery worker and the operator
-- commands need beyond 001 (handlers/notifications/deliver.c):
--
--  * bodies hold live secrets (verification and reset codes): once a
--    message is sent its text, HTML and attachments are cleared, and a
--    failed message's after BH_FAILED_BODY_RETENTION; the row keeps its
--    envelope, subject, status, attempts and idempotent answer;
--  * an SMTP outage (no reply at all) does not count toward
--    BH_DELIVERY_MAX_ATTEMPTS: only attempts the server answered with a
--    refusal do; the outage is bounded by age instead (BH_DELIVERY_MAX_AGE
--    from queued_at);
--  * `bellhop-notifications requeue` puts failed messages back in the
--    queue: attempts start again from 0 and the age from the requeue, while
--    email_attempts keeps the whole history (attempt numbers go on).
--
-- Runs inside one transaction as the database owner (bellhop_notifications).

ALTER TABLE emails
	ALTER COLUMN body_text DROP NOT NULL,
	-- false once body_text, body_html and the attachments are cleared
	ADD COLUMN body_retained boolean NOT NULL DEFAULT true,
	-- how many attachments it had (they go with the body)
	ADD COLUMN attachment_count integer NOT NULL DEFAULT 0
		CHECK (attachment_count BETWEEN 0 AND 10),
	-- attempts since queued_at that count toward BH_DELIVERY_MAX_ATTEMPTS:
	-- those the SMTP server refused with a reply (attempts counts all)
	ADD COLUMN refusals integer NOT NULL DEFAULT 0 CHECK (refusals >= 0),
	-- when it entered the queue: accepted, or requeued (BH_DELIVERY_MAX_AGE
	-- counts from here)
	ADD COLUMN queued_at timestamptz,
	ADD COLUMN requeued_at timestamptz;

-- email_attempts.attempt goes on across a requeue: it is no longer the
-- same number as emails.attempts.
ALTER TABLE email_attempts
	-- the SMTP command the server refused (or was talking about when the
	-- connection failed): greeting, ehlo, starttls, auth, mail, rcpt, data;
	-- NULL for an attempt that was sent, or older than this column
	ADD COLUMN step text CHECK (step IN ('greeting', 'ehlo', 'starttls',
		'auth', 'mail', 'rcpt', 'data'));

UPDATE emails e SET
	queued_at = created_at,
	refusals = attempts,
	attachment_count = (SELECT count(*) FROM email_attachments a
		WHERE a.email_id = e.id);
ALTER TABLE emails
	ALTER COLUMN queued_at SET NOT NULL,
	ALTER COLUMN queued_at SET DEFAULT now();

-- What was sent before this migration holds its secrets no longer either.
-- (Failed messages keep theirs: the delivery worker clears them after
-- BH_FAILED_BODY_RETENTION.)
DELETE FROM email_attachments a USING emails e
	WHERE a.email_id = e.id AND e.status = 'sent';
UPDATE emails SET body_text = NULL, body_html = NULL, body_retained = false
	WHERE status = 'sent';

ALTER TABLE emails
	ADD CONSTRAINT emails_body_retained
		CHECK (body_retained = (body_text IS NOT NULL)),
	ADD CONSTRAINT emails_body_html_retained
		CHECK (body_retained OR body_html IS NULL),
	-- a queued message is always sendable
	ADD CONSTRAINT emails_queued_has_body
		CHECK (status <> 'queued' OR body_retained);

-- What the delivery worker's clean-up looks for.
CREATE INDEX emails_failed_bodies ON emails (failed_at)
	WHERE status = 'failed' AND body_retained;
