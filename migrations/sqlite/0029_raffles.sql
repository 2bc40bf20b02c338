-- Raffles among entrants (issue 24, FAIRNESS.md §9): N winners drawn from
-- the players who voted, shared, drew or grabbed in [from_at, until_at),
-- or the top N candidates of the vote. A raffle is made before its
-- cut-off (`until_at` in the future) and never edited; `raffle_seq`, its
-- number in the campaign, is taken under the campaign row's lock, so the
-- engine cannot choose which stream of the seed it gets.
--
-- A run is one transaction: the entrants (pseudonymised, in the order the
-- pick walks them), the winners and their prize awards, and the
-- guarded `status = 'open' -> 'drawn'`; a second run finds it drawn and
-- answers the same winners.
--
-- Raffle prizes are prize awards like the wheel's and the tiers'
-- (`prize_award.raffle_id`, the winner's rank in `slot_index`); an award
-- also gains the store its draw was made in. SQLite cannot change a CHECK
-- in place, so `prize_award` is rebuilt (nothing
-- references it); its indexes are made again as they were.
ALTER TABLE campaign ADD COLUMN raffle_count INTEGER NOT NULL DEFAULT 0;

-- Winners by store (issue 24): a draw made in a store (its in-store QR
-- code names the store the merchant registered) carries the store, and so
-- does its prize award; ListWinners filters on it.
ALTER TABLE draw ADD COLUMN store_id TEXT;

CREATE TABLE raffle (
    raffle_id      TEXT PRIMARY KEY,
    campaign_id    TEXT NOT NULL REFERENCES campaign (campaign_id),
    raffle_seq     INTEGER NOT NULL CHECK (raffle_seq >= 1),
    name           TEXT NOT NULL,
    source         TEXT NOT NULL
        CHECK (source IN ('vote', 'share', 'draw', 'grab', 'top_candidates')),
    -- vote / top_candidates: only votes for this candidate ('' = any).
    candidate_id   TEXT NOT NULL,
    tickets        INTEGER NOT NULL CHECK (tickets IN (0, 1)),
    from_at        INTEGER NOT NULL,
    until_at       INTEGER NOT NULL,
    winners        INTEGER NOT NULL CHECK (winners BETWEEN 1 AND 1000),
    prize_name     TEXT NOT NULL,
    kind           TEXT NOT NULL
        CHECK (kind IN ('coupon', 'physical', 'topup_code', 'points', 'cash')),
    reference      TEXT NOT NULL,
    amount         INTEGER NOT NULL CHECK (amount >= 0),
    claim_days     INTEGER NOT NULL CHECK (claim_days >= 0),
    status         TEXT NOT NULL CHECK (status IN ('open', 'drawn')),
    entrant_count  INTEGER NOT NULL DEFAULT 0 CHECK (entrant_count >= 0),
    ticket_count   INTEGER NOT NULL DEFAULT 0 CHECK (ticket_count >= 0),
    entrants_hash  BLOB,
    -- The entrants in pick order, JSON [[id, owner, weight], ...].
    entrants       TEXT,
    drawn_at       INTEGER,
    -- Why the engine's own run was refused (it is not tried again).
    run_error      TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
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
    won_rank   INTEGER NOT NULL CHECK (won_rank >= 1),
    position   INTEGER NOT NULL CHECK (position >= 0),
    entrant    TEXT NOT NULL,
    owner      TEXT NOT NULL,
    award_id   TEXT,
    PRIMARY KEY (raffle_id, won_rank),
    UNIQUE (raffle_id, position)
);

CREATE TABLE prize_award_v3 (
    award_id         TEXT PRIMARY KEY,
    campaign_id      TEXT NOT NULL REFERENCES campaign (campaign_id),
    draw_id          TEXT UNIQUE REFERENCES draw (draw_id),
    tier_index       INTEGER,
    raffle_id        TEXT REFERENCES raffle (raffle_id),
    player_id        TEXT NOT NULL,
    slot_index       INTEGER NOT NULL,
    prize_name       TEXT NOT NULL,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('granted', 'won', 'claimed', 'shipped', 'expired')),
    won_at           INTEGER NOT NULL,
    claim_deadline   INTEGER,
    recipient        TEXT,
    phone            TEXT,
    address          TEXT,
    tracking_number  TEXT,
    updated_at       INTEGER NOT NULL,
    store_id         TEXT,
    -- A wheel prize comes from a draw, a tier prize from its tier, a
    -- raffle prize from its raffle: exactly one.
    CHECK ((draw_id IS NOT NULL) + (tier_index IS NOT NULL) + (raffle_id IS NOT NULL) = 1)
);
INSERT INTO prize_award_v3 (award_id, campaign_id, draw_id, tier_index, raffle_id, player_id,
    slot_index, prize_name, kind, status, won_at, claim_deadline, recipient, phone, address,
    tracking_number, updated_at)
SELECT award_id, campaign_id, draw_id, tier_index, NULL, player_id, slot_index, prize_name,
    kind, status, won_at, claim_deadline, recipient, phone, address, tracking_number, updated_at
FROM prize_award;
DROP TABLE prize_award;
ALTER TABLE prize_award_v3 RENAME TO prize_award;
CREATE INDEX prize_award_player ON prize_award (player_id, campaign_id);
CREATE INDEX prize_award_campaign ON prize_award (campaign_id, won_at);
CREATE INDEX prize_award_expiry ON prize_award (claim_deadline)
    WHERE status = 'won' AND claim_deadline IS NOT NULL;
CREATE UNIQUE INDEX prize_award_tier_once ON prize_award (campaign_id, tier_index, player_id)
    WHERE tier_index IS NOT NULL;
CREATE INDEX prize_award_store ON prize_award (campaign_id, store_id, won_at, award_id)
    WHERE store_id IS NOT NULL;
-- Each rank of a raffle is awarded once.
CREATE UNIQUE INDEX prize_award_raffle_once ON prize_award (raffle_id, slot_index)
    WHERE raffle_id IS NOT NULL;
