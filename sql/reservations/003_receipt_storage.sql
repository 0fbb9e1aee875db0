-- 003_receipt_storage.sql - the stored receipt is kept out of line without
-- compression.
--
-- The receipt is a PDF whose streams libharu has already deflated.  With
-- the default storage (EXTENDED) PostgreSQL runs pglz over it when the
-- UPDATE that stores it moves it out of line, finds nothing to gain and
-- stores it as it came: measured on PostgreSQL 15, 4.8 ms of the backend's
-- CPU per 185 KB receipt and 0.8 ms per 31 KB one, against 0.9 and 0.13 ms
-- without the attempt (bench/README.md).  EXTERNAL keeps the out-of-line
-- storage and skips the attempt.  It affects rows written from now on.

ALTER TABLE reservations ALTER COLUMN receipt SET STORAGE EXTERNAL;
