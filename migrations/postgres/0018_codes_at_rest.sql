-- Codes at rest (issue 22): coupon codes and supplier codes are no longer
-- stored in the clear. `code_digest` (the old `code` column, renamed, so
-- its UNIQUE constraints stay) holds a keyed digest of the code (32 hex
-- digits, `domain::vault`): a till's lookup probes it. `code_sealed`
-- holds the code sealed with the key outside the database, to show it to
-- its owner. Rows from before this migration still hold the code in
-- `code_digest` and no `code_sealed`: the next start converts them
-- (`coupon::store::codes`), found through the small partial indexes.
ALTER TABLE coupon RENAME COLUMN code TO code_digest;
ALTER TABLE coupon ADD COLUMN code_sealed BYTEA;
CREATE INDEX coupon_code_unsealed ON coupon (coupon_id) WHERE code_sealed IS NULL;

ALTER TABLE pool_code RENAME COLUMN code TO code_digest;
ALTER TABLE pool_code ADD COLUMN code_sealed BYTEA;
CREATE INDEX pool_code_unsealed ON pool_code (pool_id, seq) WHERE code_sealed IS NULL;
