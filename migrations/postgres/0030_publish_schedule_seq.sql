-- Scheduled publish: refusals guarded by the schedule they were about
-- (see the SQLite twin).
ALTER TABLE campaign ADD COLUMN publish_schedule_seq BIGINT NOT NULL DEFAULT 0;
