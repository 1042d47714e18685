-- A grade's precedence is no longer stored: every row held the rank its writer's version gave it,
-- a second copy of records.GRADER_PRECEDENCE that went stale when the order changed (feedback >
-- execution > reference > auto > judge). Reads rank by records.precedence_sql(grader) instead.
ALTER TABLE grades DROP COLUMN precedence;
