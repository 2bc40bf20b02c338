-- Targeted issue (issue 24): a template's coupons issued to a list of
-- openids (a member segment the merchant uploads) as one bulk job.
--
-- `coupon_target_job` is the job: OPEN while openids are appended, RUNNING
-- once started (the worker decides its targets in batches), DONE or FAILED.
-- `coupon_target` holds one row per distinct openid of a job (UNIQUE
-- (job_id, openid): duplicates in the list count once). A target is
-- decided once, by a guarded `UPDATE ... WHERE state = 'PENDING'` in the
-- same transaction as its coupon; the coupon's `source_id` is the
-- target's id (UNIQUE), so a resumed or racing worker never issues twice.
--
-- Coupons gain the source 'targeted'.
ALTER TABLE coupon DROP CONSTRAINT coupon_source_check;
ALTER TABLE coupon ADD CONSTRAINT coupon_source_check
    CHECK (source IN ('claim', 'prize', 'bulk', 'targeted'));

CREATE TABLE coupon_target_job (
    job_id       TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL REFERENCES merchant (merchant_id),
    template_id  TEXT NOT NULL REFERENCES coupon_template (template_id),
    state        TEXT NOT NULL CHECK (state IN ('OPEN', 'RUNNING', 'DONE', 'FAILED')),
    -- Openids received, duplicates included; distinct ones (targets).
    received     BIGINT NOT NULL CHECK (received >= targets),
    targets      BIGINT NOT NULL CHECK (targets >= 0 AND targets <= 100000),
    issued       BIGINT NOT NULL CHECK (issued >= 0),
    refused      BIGINT NOT NULL CHECK (refused >= 0),
    error        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT,
    CHECK (issued + refused <= targets)
);
CREATE INDEX coupon_target_job_merchant_created
    ON coupon_target_job (merchant_id, created_at, job_id);
CREATE INDEX coupon_target_job_running ON coupon_target_job (job_id) WHERE state = 'RUNNING';

CREATE TABLE coupon_target (
    -- UUIDv7, made when the openid is appended: the report's order and
    -- the coupon's source_id.
    target_id    TEXT PRIMARY KEY,
    job_id       TEXT NOT NULL REFERENCES coupon_target_job (job_id),
    -- Exactly as a player token's `sub`: the coupon's player_id.
    openid       TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('PENDING', 'ISSUED', 'REFUSED')),
    -- Why refused ('per_user_limit', 'supply_exhausted',
    -- 'template_expired'); empty otherwise.
    reason       TEXT NOT NULL,
    coupon_id    TEXT UNIQUE,
    decided_at   BIGINT,
    UNIQUE (job_id, openid),
    CHECK ((state = 'ISSUED') = (coupon_id IS NOT NULL)),
    CHECK ((state = 'REFUSED') = (reason <> '')),
    CHECK ((state = 'PENDING') = (decided_at IS NULL))
);
CREATE INDEX coupon_target_by_job ON coupon_target (job_id, target_id);
CREATE INDEX coupon_target_pending ON coupon_target (job_id, target_id) WHERE state = 'PENDING';
