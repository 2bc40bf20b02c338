-- Webhooks (issue 25, docs/events.md): a merchant's endpoints and each
-- event's delivery to each. The sequencer writes the deliveries of the
-- events it numbers, in the same transaction, for every ENABLED or
-- FAILING endpoint of their merchant whose types admit them; each
-- endpoint's worker leases its due deliveries, posts them, and records
-- the answers.
CREATE TABLE webhook_endpoint (
    endpoint_id     TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL,
    url             TEXT NOT NULL,
    description     TEXT NOT NULL,
    -- ',draw.won.v1,vote.cast.v1,' or '' for every type.
    event_types     TEXT NOT NULL,
    -- The signing secret, sealed (platform::access::seal): never in the
    -- clear.
    secret_sealed   BLOB NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('enabled', 'disabled', 'failing')),
    -- Why it is disabled: 'admin' or 'gone' (the receiver answered 410).
    disabled_reason TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_success_at INTEGER,
    last_failure_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhook_endpoint_merchant ON webhook_endpoint (merchant_id, created_at);

CREATE TABLE webhook_delivery (
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoint (endpoint_id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL REFERENCES event (event_id),
    event_position   INTEGER NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL CHECK (attempts >= 0),
    next_attempt_at  INTEGER NOT NULL,
    -- The worker's lease while an attempt is in flight.
    lease            TEXT,
    first_attempt_at INTEGER,
    delivered_at     INTEGER,
    last_status      INTEGER,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, event_id),
    CHECK ((state = 'delivered') = (delivered_at IS NOT NULL))
);
-- A worker's due deliveries, oldest event first.
CREATE INDEX webhook_delivery_due ON webhook_delivery (endpoint_id, event_position)
    WHERE state = 'pending';
CREATE INDEX webhook_delivery_lease ON webhook_delivery (endpoint_id, lease) WHERE lease IS NOT NULL;
CREATE INDEX webhook_delivery_position ON webhook_delivery (endpoint_id, event_position);
-- Delivered rows are forgotten after the retention window (the events
-- stay): the purge walks them oldest first.
CREATE INDEX webhook_delivery_done ON webhook_delivery (delivered_at) WHERE state = 'delivered';
