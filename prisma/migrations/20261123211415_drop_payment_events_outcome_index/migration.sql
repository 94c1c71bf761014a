-- Nothing reads payment_events by outcome, and the index made every webhook's final outcome update
-- a non-HOT update with index writes (docs/performance.md).
-- DropIndex
DROP INDEX "payment_events_outcome_received_at_idx";
