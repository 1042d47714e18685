-- When the change a reset was made for began (store clock; NULL: an older replica's reset): a
-- replica's backlog from a store outage, graded before the change and written after the reset
-- (store/arm_resets.py: each policy batch logged as of when it was taken), is not added to
-- the arm the reset set to the grades since the change.
ALTER TABLE arm_resets ADD COLUMN started DOUBLE PRECISION;
