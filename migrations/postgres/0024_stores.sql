-- Stores as entities of a merchant (issue 24): the merchant's own store
-- code (the `store_id` POS keys, templates and redemptions already carry),
-- a name, city, address, an optional geo point in millionths of a degree
-- and a status. A store is never deleted: closing it revokes its POS keys
-- (StoreAdminService.UpdateStore). POS keys and template store lists
-- accept only OPEN stores of the same merchant, checked by a conditional
-- UPDATE of the store's row in the same transaction (the row lock keeps a
-- key from being made for a store that is being closed).
CREATE TABLE merchant_store (
    merchant_id  TEXT NOT NULL REFERENCES merchant (merchant_id),
    store_id     TEXT NOT NULL,
    name         TEXT NOT NULL,
    city         TEXT NOT NULL,
    address      TEXT NOT NULL,
    lat_e6       BIGINT CHECK (lat_e6 BETWEEN -90000000 AND 90000000),
    lng_e6       BIGINT CHECK (lng_e6 BETWEEN -180000000 AND 180000000),
    status       TEXT NOT NULL CHECK (status IN ('OPEN', 'CLOSED')),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, store_id),
    CHECK ((lat_e6 IS NULL) = (lng_e6 IS NULL))
);

-- Every store id already in use (POS keys, template store lists,
-- redemptions) becomes a registered OPEN store named by its code, first
-- seen at its earliest use; the merchant fills in the rest.
INSERT INTO merchant_store (merchant_id, store_id, name, city, address, status,
                            created_at, updated_at)
SELECT merchant_id, store_id, store_id, '', '', 'OPEN', MIN(at), MIN(at)
FROM (
    SELECT merchant_id, unnest(string_to_array(store_ids, E'\n')) AS store_id,
           created_at AS at
    FROM coupon_template WHERE store_ids <> ''
    UNION ALL
    SELECT merchant_id, store_id, created_at FROM api_key WHERE store_id IS NOT NULL
    UNION ALL
    SELECT merchant_id, store_id, redeemed_at FROM coupon_redemption
) used
WHERE store_id <> ''
GROUP BY merchant_id, store_id;
