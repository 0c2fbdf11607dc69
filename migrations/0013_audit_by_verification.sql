-- The audit page words a verification's outcome from its earlier events (the channel, the
-- caller ID's name, the wrong codes before the right one): found by verification through this.
CREATE INDEX audit_events_by_verification ON audit_events (verification_id, id)
    WHERE verification_id IS NOT NULL;
