-- The per-prompt slope of each arm (routing.PromptModel) joins the shared policy: additive offsets
-- from its prior, summed over replicas like alpha/beta; its starting center is the first writer's.
ALTER TABLE arms ADD COLUMN slope_mean DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE arms ADD COLUMN slope_precision DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE arms ADD COLUMN slope_center DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE arms ADD COLUMN slope_seen DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE arms ADD COLUMN slope_center0 DOUBLE PRECISION;
