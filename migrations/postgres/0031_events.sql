-- Domain events (issue 25, docs/events.md): the transactional outbox of
-- everything a merchant's systems act on. An effect writes its event in
-- its own transaction with `position` and `seq` unset; the sequencer (one
-- at a time) numbers committed events afterwards: `position` without
-- gaps per merchant (the stream's and ListEvents' cursor), `seq` without
-- gaps per campaign (and per merchant for events of no campaign). Numbering after commit keeps a hot counter row out of
-- every draw; an event becomes visible to readers once numbered.
CREATE TABLE event (
    -- UUIDv7, made in Rust.
    event_id     TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL,
    -- '' for an event of no campaign.
    campaign_id  TEXT NOT NULL,
    -- 'draw.won.v1', ...: platform::domain::events::EventType.
    event_type   TEXT NOT NULL,
    -- The player's openid ('' for none) and pseudonym in the campaign.
    player_id    TEXT NOT NULL,
    pseudonym    TEXT NOT NULL,
    occurred_at  BIGINT NOT NULL,
    -- The payload, a JSON object.
    payload      TEXT NOT NULL,
    position     BIGINT CHECK (position >= 1),
    seq          BIGINT CHECK (seq >= 1),
    sequenced_at BIGINT,
    CHECK ((position IS NULL) = (seq IS NULL)),
    CHECK ((position IS NULL) = (sequenced_at IS NULL))
);
CREATE UNIQUE INDEX event_merchant_position ON event (merchant_id, position);
CREATE UNIQUE INDEX event_campaign_seq ON event (merchant_id, campaign_id, seq);
CREATE INDEX event_unsequenced ON event (event_id) WHERE position IS NULL;
