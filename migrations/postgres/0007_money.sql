-- Money: a budget per campaign, red packets, and the double-entry ledger
-- every cent moves through. Amounts are BIGINT cents.
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
    funded        BIGINT NOT NULL CHECK (funded >= 0),
    available     BIGINT NOT NULL CHECK (available >= 0),
    reserved      BIGINT NOT NULL CHECK (reserved >= 0),
    granted       BIGINT NOT NULL CHECK (granted >= 0),
    refunded      BIGINT NOT NULL CHECK (refunded >= 0),
    -- Packets created so far: the sequence number in each split's message.
    packet_count  BIGINT NOT NULL CHECK (packet_count >= 0),
    created_at    BIGINT NOT NULL,
    -- Invariant 3 for the budget, as a constraint.
    CHECK (funded = available + reserved + granted + refunded)
);

CREATE TABLE red_packet (
    packet_id    TEXT PRIMARY KEY,
    campaign_id  TEXT NOT NULL REFERENCES budget (campaign_id),
    merchant_id  TEXT NOT NULL,
    packet_seq   BIGINT NOT NULL CHECK (packet_seq >= 1),
    kind         TEXT NOT NULL CHECK (kind IN ('group', 'campaign')),
    split_mode   TEXT NOT NULL CHECK (split_mode IN ('lucky', 'equal', '')),
    -- Group packets: the total reserved and the number of parts.
    total        BIGINT NOT NULL CHECK (total >= 0),
    parts        BIGINT NOT NULL CHECK (parts >= 0),
    -- Campaign packets: each grant is in [min_cents, max_cents].
    min_cents    BIGINT NOT NULL CHECK (min_cents >= 0),
    max_cents    BIGINT NOT NULL CHECK (max_cents >= min_cents),
    -- Grabs so far; for a group packet the next part to hand out.
    grabbed      BIGINT NOT NULL CHECK (grabbed >= 0),
    granted      BIGINT NOT NULL CHECK (granted >= 0),
    released     BIGINT NOT NULL CHECK (released >= 0),
    remaining    BIGINT NOT NULL CHECK (remaining >= 0),
    state        TEXT NOT NULL CHECK (state IN ('open', 'expired')),
    expires_at   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    expired_at   BIGINT,
    UNIQUE (campaign_id, packet_seq),
    -- Invariant 3 for a group packet, as a constraint.
    CHECK (kind <> 'group' OR (total = granted + released + remaining AND grabbed <= parts))
);
CREATE INDEX red_packet_due ON red_packet (expires_at) WHERE state = 'open';

-- A group packet's parts, computed at creation from the committed seed.
CREATE TABLE packet_part (
    packet_id   TEXT NOT NULL REFERENCES red_packet (packet_id),
    part_index  BIGINT NOT NULL CHECK (part_index >= 0),
    amount      BIGINT NOT NULL CHECK (amount >= 1),
    PRIMARY KEY (packet_id, part_index)
);

-- One grab per player per packet.
CREATE TABLE packet_grab (
    packet_id    TEXT NOT NULL REFERENCES red_packet (packet_id),
    player_id    TEXT NOT NULL,
    grab_seq     BIGINT NOT NULL CHECK (grab_seq >= 1),
    amount       BIGINT NOT NULL CHECK (amount >= 1),
    movement_id  TEXT NOT NULL,
    grabbed_at   BIGINT NOT NULL,
    PRIMARY KEY (packet_id, player_id),
    UNIQUE (packet_id, grab_seq)
);
CREATE INDEX packet_grab_player ON packet_grab (player_id, grabbed_at);

CREATE TABLE money_movement (
    movement_id  TEXT PRIMARY KEY,
    campaign_id  TEXT NOT NULL REFERENCES budget (campaign_id),
    kind         TEXT NOT NULL CHECK (kind IN ('fund', 'reserve', 'grant', 'release', 'refund')),
    amount       BIGINT NOT NULL CHECK (amount > 0),
    packet_id    TEXT,
    player_id    TEXT,
    draw_id      TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX money_movement_campaign ON money_movement (campaign_id, movement_id);
-- A packet's release on expiry happens once, however often the sweep runs.
CREATE UNIQUE INDEX money_movement_one_release ON money_movement (packet_id)
    WHERE kind = 'release';

CREATE TABLE ledger_entry (
    movement_id  TEXT NOT NULL REFERENCES money_movement (movement_id),
    account      TEXT NOT NULL,
    amount       BIGINT NOT NULL CHECK (amount <> 0),
    PRIMARY KEY (movement_id, account)
);
CREATE INDEX ledger_entry_account ON ledger_entry (account);

CREATE FUNCTION money_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the money ledger is append-only';
END
$$;
CREATE TRIGGER money_movement_no_change BEFORE UPDATE OR DELETE ON money_movement
FOR EACH ROW EXECUTE FUNCTION money_ledger_append_only();
CREATE TRIGGER ledger_entry_no_change BEFORE UPDATE OR DELETE ON ledger_entry
FOR EACH ROW EXECUTE FUNCTION money_ledger_append_only();
