-- Bytes per draw (issue 22): every won draw wrote an entry into
-- prize_award_expiry, though only the expiry sweep reads it, and only for
-- physical prizes still waiting to be claimed (`status = 'won' AND
-- claim_deadline < now`). Points, coupons, top-up codes and cash have no
-- deadline, and claimed or expired awards are never swept again: the
-- index now holds only the awards the sweep can find.
DROP INDEX prize_award_expiry;
CREATE INDEX prize_award_expiry ON prize_award (claim_deadline)
    WHERE status = 'won' AND claim_deadline IS NOT NULL;
