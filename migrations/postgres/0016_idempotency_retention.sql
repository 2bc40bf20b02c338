-- Stored answers to idempotency keys are kept for a retention window
-- (`idempotency_retention_days`, default 7) and purged in small batches
-- oldest first; this index finds them without scanning the table.
CREATE INDEX idempotency_created_at ON idempotency (created_at);
