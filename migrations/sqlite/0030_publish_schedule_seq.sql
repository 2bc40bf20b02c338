-- Scheduled publish: a refusal the publisher records must be about the
-- schedule it read. `publish_schedule_seq` counts SchedulePublish calls;
-- the publisher reads it with the due draft and records a refusal only
-- while it is unchanged, so an admin's new schedule (which clears the
-- last refusal) made during a publisher pass is not overwritten by that
-- pass's stale refusal.
ALTER TABLE campaign ADD COLUMN publish_schedule_seq INTEGER NOT NULL DEFAULT 0;
