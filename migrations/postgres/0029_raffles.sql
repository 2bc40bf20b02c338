-- Raffles among entrants (issue 24, FAIRNESS.md §9); see the SQLite twin
-- for the design. PostgreSQL changes prize_award's CHECK in place.
ALTER TABLE campaign ADD COLUMN raffle_count BIGINT NOT NULL DEFAULT 0;

-- Winners by store: the store a draw was made in, on the draw and its
-- award.
ALTER TABLE draw ADD COLUMN store_id TEXT;
ALTER TABLE prize_award ADD COLUMN store_id TEXT;
CREATE INDEX prize_award_store ON prize_award (campaign_id, store_id, won_at, award_id)
    WHERE store_id IS NOT NULL;

CREATE TABLE raffle (
    raffle_id      TEXT PRIMARY KEY,
    campaign_id    TEXT NOT NULL REFERENCES campaign (campaign_id),
    raffle_seq     BIGINT NOT NULL CHECK (raffle_seq >= 1),
    name           TEXT NOT NULL,
    source         TEXT NOT NULL
        CHECK (source IN ('vote', 'share', 'draw', 'grab', 'top_candidates')),
    candidate_id   TEXT NOT NULL,
    tickets        BIGINT NOT NULL CHECK (tickets IN (0, 1)),
    from_at        BIGINT NOT NULL,
    until_at       BIGINT NOT NULL,
    winners        BIGINT NOT NULL CHECK (winners BETWEEN 1 AND 1000),
    prize_name     TEXT NOT NULL,
    kind           TEXT NOT NULL
        CHECK (kind IN ('coupon', 'physical', 'topup_code', 'points', 'cash')),
    reference      TEXT NOT NULL,
    amount         BIGINT NOT NULL CHECK (amount >= 0),
    claim_days     BIGINT NOT NULL CHECK (claim_days >= 0),
    status         TEXT NOT NULL CHECK (status IN ('open', 'drawn')),
    entrant_count  BIGINT NOT NULL DEFAULT 0 CHECK (entrant_count >= 0),
    ticket_count   BIGINT NOT NULL DEFAULT 0 CHECK (ticket_count >= 0),
    entrants_hash  BYTEA,
    -- The entrants in pick order, JSON [[id, owner, weight], ...].
    entrants       TEXT,
    drawn_at       BIGINT,
    run_error      TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    CHECK (until_at > from_at),
    CHECK ((status = 'drawn') = (drawn_at IS NOT NULL)),
    UNIQUE (campaign_id, raffle_seq)
);
CREATE INDEX raffle_due ON raffle (until_at) WHERE status = 'open';

-- A drawn raffle's winners: rank, position in the entrant list, the
-- entrant (a player's pseudonym, or the candidate), the owner (the
-- candidate's owner's pseudonym; '' for a player or a candidate the
-- merchant registered) and the prize award (none for such a candidate).
CREATE TABLE raffle_winner (
    raffle_id  TEXT NOT NULL REFERENCES raffle (raffle_id),
    won_rank   BIGINT NOT NULL CHECK (won_rank >= 1),
    position   BIGINT NOT NULL CHECK (position >= 0),
    entrant    TEXT NOT NULL,
    owner      TEXT NOT NULL,
    award_id   TEXT,
    PRIMARY KEY (raffle_id, won_rank),
    UNIQUE (raffle_id, position)
);

ALTER TABLE prize_award ADD COLUMN raffle_id TEXT REFERENCES raffle (raffle_id);
ALTER TABLE prize_award DROP CONSTRAINT prize_award_one_source;
ALTER TABLE prize_award ADD CONSTRAINT prize_award_one_source
    CHECK ((draw_id IS NOT NULL)::int + (tier_index IS NOT NULL)::int
           + (raffle_id IS NOT NULL)::int = 1);
CREATE UNIQUE INDEX prize_award_raffle_once ON prize_award (raffle_id, slot_index)
    WHERE raffle_id IS NOT NULL;
