-- The full aggregate set of the window engine: variance, sketch quantiles, distinct devices,
-- last value, change versus the previous window, and per-kind counts.
ALTER TABLE window_results
    ADD COLUMN IF NOT EXISTS variance    Float64 AFTER mean,
    ADD COLUMN IF NOT EXISTS p50         Nullable(Float64) AFTER variance,
    ADD COLUMN IF NOT EXISTS p90         Nullable(Float64) AFTER p50,
    ADD COLUMN IF NOT EXISTS p99         Nullable(Float64) AFTER p90,
    ADD COLUMN IF NOT EXISTS distinct    Nullable(UInt64) AFTER p99,
    ADD COLUMN IF NOT EXISTS last        Nullable(Float64) AFTER distinct,
    ADD COLUMN IF NOT EXISTS delta_count Nullable(Float64) AFTER last,
    ADD COLUMN IF NOT EXISTS delta_mean  Nullable(Float64) AFTER delta_count,
    ADD COLUMN IF NOT EXISTS kinds       Map(String, UInt64) AFTER delta_mean;

ALTER TABLE late_events ADD COLUMN IF NOT EXISTS partition UInt32 AFTER seq;
