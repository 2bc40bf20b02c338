-- Scheduled publish (issue 24): a DRAFT marked `publish_at_start`
-- (AdminService.SchedulePublish) publishes itself once its window starts,
-- as PublishCampaign would, by the engine's publisher (every 5 s; at start
-- for one that was due while the engine was down). A refusal is kept in
-- `publish_error` and not tried again until the campaign is scheduled
-- again. The partial index holds only the drafts waiting for their start.
ALTER TABLE campaign ADD COLUMN publish_at_start BIGINT NOT NULL DEFAULT 0
    CHECK (publish_at_start IN (0, 1));
ALTER TABLE campaign ADD COLUMN publish_error TEXT NOT NULL DEFAULT '';
CREATE INDEX campaign_publish_due ON campaign (starts_at, campaign_id)
    WHERE status = 'draft' AND publish_at_start = 1;
