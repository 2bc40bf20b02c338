-- Voting: candidates, votes and the leaderboard. `candidate.votes` is the
-- leaderboard counter, changed only in the transaction that accepts or
-- invalidates a vote, so it always equals the accepted votes (invariant 5).
-- Votes are never deleted: an admin invalidates one as an audited change.

CREATE TABLE vote_rules (
    campaign_id                  TEXT PRIMARY KEY REFERENCES campaign (campaign_id),
    votes_per_day                INTEGER NOT NULL CHECK (votes_per_day >= 1),
    votes_per_candidate_per_day  INTEGER NOT NULL CHECK (votes_per_candidate_per_day >= 1),
    votes_total                  INTEGER NOT NULL CHECK (votes_total >= 1),
    player_registration          INTEGER NOT NULL CHECK (player_registration IN (0, 1)),
    updated_at                   INTEGER NOT NULL
);

CREATE TABLE candidate (
    candidate_id   TEXT PRIMARY KEY,
    campaign_id    TEXT NOT NULL REFERENCES campaign (campaign_id),
    name           TEXT NOT NULL,
    description    TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    -- 'admin' or 'player:<openid>'
    registered_by  TEXT NOT NULL,
    votes          INTEGER NOT NULL CHECK (votes >= 0),
    created_at     INTEGER NOT NULL,
    reviewed_at    INTEGER,
    UNIQUE (campaign_id, name)
);
CREATE INDEX candidate_board ON candidate (campaign_id, status, votes);

CREATE TABLE vote (
    vote_id              TEXT PRIMARY KEY,
    campaign_id          TEXT NOT NULL REFERENCES campaign (campaign_id),
    candidate_id         TEXT NOT NULL REFERENCES candidate (candidate_id),
    player_id            TEXT NOT NULL,
    day                  TEXT NOT NULL,
    channel              TEXT,
    status               TEXT NOT NULL CHECK (status IN ('accepted', 'invalidated')),
    cast_at              INTEGER NOT NULL,
    invalidated_at       INTEGER,
    invalidation_reason  TEXT,
    CHECK ((status = 'invalidated') = (invalidated_at IS NOT NULL))
);
CREATE INDEX vote_candidate ON vote (candidate_id, status);
CREATE INDEX vote_campaign_day ON vote (campaign_id, day);

-- A player's votes so far, per scope: 'total', 'day:<day>',
-- 'candidate:<candidate>:<day>'. The caps are guarded upserts on these rows.
CREATE TABLE vote_quota (
    campaign_id  TEXT NOT NULL,
    player_id    TEXT NOT NULL,
    scope        TEXT NOT NULL,
    used         INTEGER NOT NULL CHECK (used >= 1),
    PRIMARY KEY (campaign_id, player_id, scope)
);

CREATE TRIGGER vote_no_delete BEFORE DELETE ON vote
BEGIN SELECT RAISE(ABORT, 'votes are never deleted; invalidate them'); END;
