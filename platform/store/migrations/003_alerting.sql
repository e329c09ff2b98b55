-- The alert engine's durable state. The alert log is the source of truth: the active set is
-- rebuilt from it at start-up. Notifications are written to an outbox before they are sent, and
-- every delivery attempt's outcome to the delivery log, so a restart resends only what was not
-- delivered (with the same idempotency key).
CREATE TABLE IF NOT EXISTS alert_log (
    alert_id     String,
    fingerprint  String,
    seq          UInt32,
    at           DateTime64(3, 'UTC'),
    type         LowCardinality(String),
    actor        String,
    reason       String,
    from_state   LowCardinality(String),
    to_state     LowCardinality(String),
    from_tier    LowCardinality(String),
    to_tier      LowCardinality(String),
    rule         LowCardinality(String),
    area         String,
    alert        String
) ENGINE = ReplacingMergeTree
ORDER BY (alert_id, seq)
TTL toDateTime(at) + INTERVAL 2 YEAR;

CREATE TABLE IF NOT EXISTS alert_outbox (
    key          String,
    alert_id     String,
    channel      LowCardinality(String),
    recipient    String,
    created_at   DateTime64(3, 'UTC'),
    notification String
) ENGINE = ReplacingMergeTree
ORDER BY key
TTL toDateTime(created_at) + INTERVAL 30 DAY;

CREATE TABLE IF NOT EXISTS alert_deliveries (
    key          String,
    alert_id     String,
    channel      LowCardinality(String),
    recipient    String,
    at           DateTime64(3, 'UTC'),
    attempt      UInt32,
    outcome      LowCardinality(String),
    status       UInt16,
    error        String
) ENGINE = MergeTree
ORDER BY (key, at)
TTL toDateTime(at) + INTERVAL 180 DAY;

CREATE TABLE IF NOT EXISTS silences (
    id           String,
    version      UInt64,
    matchers     String,
    author       String,
    comment      String,
    starts_at    DateTime64(3, 'UTC'),
    ends_at      DateTime64(3, 'UTC'),
    created_at   DateTime64(3, 'UTC'),
    expired_by   String
) ENGINE = ReplacingMergeTree(version)
ORDER BY id
