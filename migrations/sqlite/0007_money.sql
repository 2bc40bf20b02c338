-- Money: a budget per campaign, red packets, and the double-entry ledger
-- every cent moves through. Amounts are INTEGER cents.
--
-- Accounts (ledger_entry.account): `merchant:<merchant>` (where funding
-- comes from; its balance is minus what was put in), `budget:<campaign>`
-- (available), `packet:<packet>` (reserved in a group packet),
-- `player:<campaign>:<player>` (granted), `refunded:<campaign>` (taken back
-- by the merchant). Every movement writes entries that sum to zero, in the
-- transaction of its effect; the counters below are those balances, kept
-- for speed and checked against the entries by the test suites.

CREATE TABLE budget (
    campaign_id   TEXT PRIMARY KEY REFERENCES campaign (campaign_id),
    merchant_id   TEXT NOT NULL REFERENCES merchant (merchant_id),
    funded        INTEGER NOT NULL CHECK (funded >= 0),
    available     INTEGER NOT NULL CHECK (available >= 0),
    reserved      INTEGER NOT NULL CHECK (reserved >= 0),
    granted       INTEGER NOT NULL CHECK (granted >= 0),
    refunded      INTEGER NOT NULL CHECK (refunded >= 0),
    -- Packets created so far: the sequence number in each split's message.
    packet_count  INTEGER NOT NULL CHECK (packet_count >= 0),
    created_at    INTEGER NOT NULL,
    -- Invariant 3 for the budget, as a constraint.
    CHECK (funded = available + reserved + granted + refunded)
);

CREATE TABLE red_packet (
    packet_id    TEXT PRIMARY KEY,
    campaign_id  TEXT NOT NULL REFERENCES budget (campaign_id),
    merchant_id  TEXT NOT NULL,
    packet_seq   INTEGER NOT NULL CHECK (packet_seq >= 1),
    kind         TEXT NOT NULL CHECK (kind IN ('group', 'campaign')),
    split_mode   TEXT NOT NULL CHECK (split_mode IN ('lucky', 'equal', '')),
    -- Group packets: the total reserved and the number of parts.
    total        INTEGER NOT NULL CHECK (total >= 0),
    parts        INTEGER NOT NULL CHECK (parts >= 0),
    -- Campaign packets: each grant is in [min_cents, max_cents].
    min_cents    INTEGER NOT NULL CHECK (min_cents >= 0),
    max_cents    INTEGER NOT NULL CHECK (max_cents >= min_cents),
    -- Grabs so far; for a group packet the next part to hand out.
    grabbed      INTEGER NOT NULL CHECK (grabbed >= 0),
    granted      INTEGER NOT NULL CHECK (granted >= 0),
    released     INTEGER NOT NULL CHECK (released >= 0),
    remaining    INTEGER NOT NULL CHECK (remaining >= 0),
    state        TEXT NOT NULL CHECK (state IN ('open', 'expired')),
    expires_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expired_at   INTEGER,
    UNIQUE (campaign_id, packet_seq),
    -- Invariant 3 for a group packet, as a constraint.
    CHECK (kind <> 'group' OR (total = granted + released + remaining AND grabbed <= parts))
);
CREATE INDEX red_packet_due ON red_packet (expires_at) WHERE state = 'open';

-- A group packet's parts, computed at creation from the committed seed.
CREATE TABLE packet_part (
    packet_id   TEXT NOT NULL REFERENCES red_packet (packet_id),
    part_index  INTEGER NOT NULL CHECK (part_index >= 0),
    amount      INTEGER NOT NULL CHECK (amount >= 1),
    PRIMARY KEY (packet_id, part_index)
);

-- One grab per player per packet.
CREATE TABLE packet_grab (
    packet_id    TEXT NOT NULL REFERENCES red_packet (packet_id),
    player_id    TEXT NOT NULL,
    grab_seq     INTEGER NOT NULL CHECK (grab_seq >= 1),
    amount       INTEGER NOT NULL CHECK (amount >= 1),
    movement_id  TEXT NOT NULL,
    grabbed_at   INTEGER NOT NULL,
    PRIMARY KEY (packet_id, player_id),
    UNIQUE (packet_id, grab_seq)
);
CREATE INDEX packet_grab_player ON packet_grab (player_id, grabbed_at);

CREATE TABLE money_movement (
    movement_id  TEXT PRIMARY KEY,
    campaign_id  TEXT NOT NULL REFERENCES budget (campaign_id),
    kind         TEXT NOT NULL CHECK (kind IN ('fund', 'reserve', 'grant', 'release', 'refund')),
    amount       INTEGER NOT NULL CHECK (amount > 0),
    packet_id    TEXT,
    player_id    TEXT,
    draw_id      TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX money_movement_campaign ON money_movement (campaign_id, movement_id);
-- A packet's release on expiry happens once, however often the sweep runs.
CREATE UNIQUE INDEX money_movement_one_release ON money_movement (packet_id)
    WHERE kind = 'release';

CREATE TABLE ledger_entry (
    movement_id  TEXT NOT NULL REFERENCES money_movement (movement_id),
    account      TEXT NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount <> 0),
    PRIMARY KEY (movement_id, account)
);
CREATE INDEX ledger_entry_account ON ledger_entry (account);

CREATE TRIGGER money_movement_no_update BEFORE UPDATE ON money_movement
BEGIN SELECT RAISE(ABORT, 'the money ledger is append-only'); END;
CREATE TRIGGER money_movement_no_delete BEFORE DELETE ON money_movement
BEGIN SELECT RAISE(ABORT, 'the money ledger is append-only'); END;
CREATE TRIGGER ledger_entry_no_update BEFORE UPDATE ON ledger_entry
BEGIN SELECT RAISE(ABORT, 'the money ledger is append-only'); END;
CREATE TRIGGER ledger_entry_no_delete BEFORE DELETE ON ledger_entry
BEGIN SELECT RAISE(ABORT, 'the money ledger is append-only'); END;
