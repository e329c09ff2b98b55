-- Raw events, one table per source, in the source's own words plus the common envelope.
-- seq is the event-log position: replay after a crash reads seq > checkpoint in order.
CREATE TABLE IF NOT EXISTS events_sensor
(
    seq          UInt64,
    id           String,
    ts           DateTime64(3, 'UTC'),
    received_at  DateTime64(3, 'UTC'),
    grid         LowCardinality(String),
    kind         LowCardinality(String),
    value        Float64,
    device       String,
    unit         LowCardinality(String),
    attrs        Map(String, String),
    INDEX seq_idx seq TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (grid, kind, ts, id)
TTL toDateTime(ts) + INTERVAL 180 DAY;

CREATE TABLE IF NOT EXISTS events_video
(
    seq          UInt64,
    id           String,
    ts           DateTime64(3, 'UTC'),
    received_at  DateTime64(3, 'UTC'),
    grid         LowCardinality(String),
    kind         LowCardinality(String),
    value        Float64,
    device       String,
    confidence   Float32,
    object_count Nullable(UInt32),
    snapshot_url String,
    attrs        Map(String, String),
    INDEX seq_idx seq TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (grid, kind, ts, id)
TTL toDateTime(ts) + INTERVAL 180 DAY;

-- Hotline records hold personal data: only masked values are ever written here.
CREATE TABLE IF NOT EXISTS events_hotline
(
    seq          UInt64,
    id           String,
    ts           DateTime64(3, 'UTC'),
    received_at  DateTime64(3, 'UTC'),
    grid         LowCardinality(String),
    kind         LowCardinality(String),
    value        Float64,
    device       String,
    address      String,
    summary      String,
    caller_phone_masked String,
    attrs        Map(String, String),
    INDEX seq_idx seq TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (grid, kind, ts, id)
TTL toDateTime(ts) + INTERVAL 365 DAY;

-- Window results. version = 2 * (highest log seq in the window) + final, so a replay writes
-- the same row again and a final or late firing always replaces a provisional one.
CREATE TABLE IF NOT EXISTS window_results
(
    window       LowCardinality(String),
    level        LowCardinality(String),
    key          String,
    source       LowCardinality(String),
    kind         LowCardinality(String),
    window_start DateTime64(3, 'UTC'),
    window_end   DateTime64(3, 'UTC'),
    count        UInt64,
    sum          Float64,
    min          Float64,
    max          Float64,
    mean         Float64,
    final        UInt8,
    version      UInt64,
    updated_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window, key, source, kind, window_start)
TTL toDateTime(window_start) + INTERVAL 730 DAY;

CREATE TABLE IF NOT EXISTS dead_letters
(
    received_at  DateTime64(3, 'UTC'),
    source       LowCardinality(String),
    request_id   String,
    key_name     LowCardinality(String),
    record_index UInt32,
    field        String,
    code         LowCardinality(String),
    reason       String,
    raw          String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (source, received_at)
TTL toDateTime(received_at) + INTERVAL 30 DAY;

-- Events that arrived after their windows closed for good (past allowed lateness).
CREATE TABLE IF NOT EXISTS late_events
(
    window       LowCardinality(String),
    seq          UInt64,
    id           String,
    source       LowCardinality(String),
    kind         LowCardinality(String),
    grid         LowCardinality(String),
    ts           DateTime64(3, 'UTC'),
    value        Float64,
    watermark    DateTime64(3, 'UTC'),
    received_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (window, source, id)
TTL toDateTime(received_at) + INTERVAL 30 DAY;

-- Processor checkpoints: the newest row per processor is its state.
CREATE TABLE IF NOT EXISTS checkpoints
(
    processor    String,
    seq          UInt64,
    created_at   DateTime64(3, 'UTC'),
    state        String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree(seq)
ORDER BY processor;
