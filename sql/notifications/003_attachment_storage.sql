-- 003_attachment_storage.sql - attachments are stored out of line without
-- compression.
--
-- What services attach is already compressed: the PDF receipt that
-- reservations sends with its recap (its fonts and pages deflated by
-- libharu).  With the default storage (EXTENDED) PostgreSQL runs pglz
-- over every attachment before moving it out of line, finds nothing to
-- gain and stores it as it came: measured on PostgreSQL 15 here, 4.8 ms
-- of the backend's CPU per 185 KB receipt and 0.8 ms per 31 KB one,
-- against 0.9 and 0.13 ms without the attempt (bench/README.md).
-- EXTERNAL keeps the out-of-line storage and skips the attempt.  An
-- attachment is kept only until its message is sent (002), so a text one
-- left uncompressed costs little room for little time.
--
-- Affects rows written from now on.  Runs inside one transaction as the
-- database owner (bellhop_notifications).

ALTER TABLE email_attachments ALTER COLUMN content SET STORAGE EXTERNAL;
