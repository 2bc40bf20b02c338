-- A campaign is a container (issue 23): its window, zone, merchant,
-- status, fairness commitment and budget; the wheel, voting, red packets
-- and forward-to-Moments sharing are activities attached to it. A call of
-- an activity the campaign does not have is refused (FAILED_PRECONDITION)
-- and changes nothing.
--
-- campaign.draws_per_day / draws_total / fallback_slot stay where they are
-- (the draw path reads them with the campaign row): they are the wheel's
-- limits and mean nothing while the campaign has no wheel (stored as 1/1,
-- shown as 0).
CREATE TABLE campaign_activity (
    campaign_id  TEXT NOT NULL REFERENCES campaign (campaign_id),
    activity     TEXT NOT NULL CHECK (activity IN ('wheel', 'vote', 'packet', 'share')),
    attached_at  INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, activity)
);

-- Every campaign so far was made by CreateWheel, which offered all four.
INSERT INTO campaign_activity (campaign_id, activity, attached_at)
SELECT c.campaign_id, a.activity, c.created_at
FROM campaign c,
     (SELECT 'wheel' AS activity UNION ALL SELECT 'vote'
      UNION ALL SELECT 'packet' UNION ALL SELECT 'share') a;
