-- The alert log's global sequence (cursor): console clients replay what they missed after it.
ALTER TABLE alert_log ADD COLUMN IF NOT EXISTS cursor UInt64 DEFAULT 0 AFTER seq;
ALTER TABLE alert_log ADD INDEX IF NOT EXISTS cursor_minmax cursor TYPE minmax GRANULARITY 1;
