-- Delta checkpoints: a processor's whole state is stored now and then (`checkpoints`, which now
-- names its chain); each checkpoint between holds only what changed since the one before.
-- Restore = the newest whole row, then its chain's deltas by n, up to the first missing one. A
-- running processor renews its chain at the first checkpoint an hour after it began
-- (processors/checkpoint-chain.ts), so a day's TTL removes only deltas of replaced chains, or of a
-- processor stopped that long, which then restores from its whole row and replays the log.
ALTER TABLE checkpoints ADD COLUMN IF NOT EXISTS chain String DEFAULT '' AFTER seq;

CREATE TABLE IF NOT EXISTS checkpoint_deltas
(
    processor  String,
    chain      String,
    n          UInt32,
    seq        UInt64,
    created_at DateTime64(3, 'UTC'),
    state      String CODEC(ZSTD(3))
)
ENGINE = MergeTree
ORDER BY (processor, chain, n)
TTL toDateTime(created_at) + INTERVAL 1 DAY;
