-- ListVotes for one candidate (issue 24) reads a keyset page, newest
-- first by vote_id, as the campaign's page does (vote_by_campaign of
-- 0022); no index led with the candidate within the campaign, so the page
-- walked the campaign's votes to find the candidate's (278 ms at 200,000
-- votes, for a candidate with none). This one answers it with one range
-- read.
CREATE INDEX vote_campaign_candidate ON vote (campaign_id, candidate_id, vote_id);
