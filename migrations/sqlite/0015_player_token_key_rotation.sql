-- Player-token keys, so that a gateway can rotate its HS256 secret without
-- a flag day: up to two active keys per merchant, told apart by the JWT
-- `kid` header (AdminService.SetPlayerTokenKey and RetirePlayerTokenKey).
-- They sign tokens of the merchant's issuer (merchant.token_issuer, still
-- UNIQUE across merchants); `generation` orders them, newest highest. A
-- retired key's row is deleted, so its secret is kept nowhere.
CREATE TABLE player_token_key (
    merchant_id  TEXT NOT NULL REFERENCES merchant (merchant_id),
    key_id       TEXT NOT NULL,
    secret       BLOB NOT NULL,
    generation   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, key_id),
    UNIQUE (merchant_id, generation)
);

-- The one secret a merchant had becomes its legacy key, kid '' (tokens
-- without a kid go on verifying); when it was set is not known, so it takes
-- the merchant's creation time. The merchant's own copy goes.
INSERT INTO player_token_key (merchant_id, key_id, secret, generation, created_at)
SELECT merchant_id, '', token_secret, 1, created_at
  FROM merchant
 WHERE token_issuer IS NOT NULL AND token_secret IS NOT NULL;

ALTER TABLE merchant DROP COLUMN token_secret;
