-- Gateway HS256 secrets are stored sealed (ChaCha20-Poly1305) with a key
-- kept outside the database (`seal_key_file`); `sealed` tells the rows
-- written before this (0, sealed in place at the next start) from sealed
-- ones (1). `seal_key_check` records which key the database is sealed
-- with (an HMAC of it, not the key), so a start with another is refused.
ALTER TABLE player_token_key ADD COLUMN sealed BIGINT NOT NULL DEFAULT 0
    CHECK (sealed IN (0, 1));

CREATE TABLE seal_key_check (
    singleton   BIGINT PRIMARY KEY CHECK (singleton = 1),
    key_check   BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);
