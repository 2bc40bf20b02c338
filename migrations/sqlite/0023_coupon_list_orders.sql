-- The coupon service's list RPCs (issue 24) read keyset pages, newest
-- first; each list's sort key gets an index that answers a page with one
-- range read: ListTemplates by (created_at, template_id) within a merchant
-- (replacing coupon_template_merchant, its prefix), ListCodePools and
-- ListBulkIssueJobs likewise, ListCoupons by (issued_at, coupon_id) within
-- a template, ListRedemptions by (redeemed_at, redemption_id) within a
-- merchant (a store's redemptions are read in the same order, filtered).
CREATE INDEX coupon_template_merchant_created
    ON coupon_template (merchant_id, created_at, template_id);
DROP INDEX coupon_template_merchant;
CREATE INDEX code_pool_merchant_created ON code_pool (merchant_id, created_at, pool_id);
CREATE INDEX coupon_bulk_job_merchant_created
    ON coupon_bulk_job (merchant_id, created_at, job_id);
CREATE INDEX coupon_by_template ON coupon (template_id, issued_at, coupon_id);
CREATE INDEX coupon_redemption_merchant_redeemed
    ON coupon_redemption (merchant_id, redeemed_at, redemption_id);
