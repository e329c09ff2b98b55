// The one configuration schema. Every key has a default, so gridwatch runs without a file;
// a file (YAML) overrides keys, and GRIDWATCH_* environment variables override the file.
import { type Static, Type as T } from '@sinclair/typebox';

const Duration = (def: string | undefined, description: string) =>
  T.Union([T.String({ pattern: '^\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)$' }), T.Integer({ minimum: 0 })], {
    ...(def === undefined ? {} : { default: def }),
    description: `${description} (e.g. "30s", "5m", or milliseconds)`,
  });

export const SOURCES = ['sensor', 'video', 'hotline'] as const;
export type SourceName = (typeof SOURCES)[number];
export const LEVELS = ['city', 'district', 'street', 'community', 'grid'] as const;
export type Level = (typeof LEVELS)[number];
/** Depth of each level in the org tree: city 0 … grid 4 (lower is higher up). */
export const LEVEL_DEPTH = Object.fromEntries(LEVELS.map((l, i) => [l, i])) as Record<Level, number>;

const Source = T.Union(SOURCES.map((s) => T.Literal(s)));
const LevelT = T.Union(LEVELS.map((s) => T.Literal(s)));

const ApiKey = T.Object(
  {
    name: T.String({ minLength: 1, maxLength: 64, description: 'who holds the key, for logs and metrics' }),
    key: T.String({
      minLength: 16,
      maxLength: 256,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: documents the config's ${VAR} interpolation
      description: 'the secret; use ${ENV_VAR} to keep it out of the file',
    }),
    scopes: T.Array(
      T.Union([
        T.Literal('ingest:sensor'),
        T.Literal('ingest:video'),
        T.Literal('ingest:hotline'),
        T.Literal('read'),
        T.Literal('alerts'),
      ]),
      { minItems: 1, uniqueItems: true },
    ),
    area: T.Optional(
      T.String({ minLength: 1, maxLength: 64, description: 'org node the key is limited to' }),
    ),
  },
  { additionalProperties: false },
);

const WindowSpec = T.Object(
  {
    name: T.String({ pattern: '^[a-z][a-z0-9_]{0,31}$' }),
    source: Source,
    kinds: T.Optional(
      T.Array(T.String({ minLength: 1, maxLength: 64 }), { minItems: 1, description: 'only these kinds' }),
    ),
    type: T.Union([T.Literal('tumbling'), T.Literal('hopping'), T.Literal('session')], {
      default: 'tumbling',
    }),
    size: Duration('1m', 'window length (tumbling, hopping)'),
    advance: T.Optional(Duration(undefined, 'hopping step: a new window starts this often')),
    gap: T.Optional(Duration(undefined, 'session gap: a session closes after this long without events')),
    offset: Duration(
      '0s',
      'shifts window boundaries from the epoch (e.g. "16h" aligns 24h windows to UTC+8 midnight)',
    ),
    levels: T.Array(LevelT, {
      default: ['grid'],
      minItems: 1,
      uniqueItems: true,
      description: 'org levels to key windows by; grid results roll up into the others',
    }),
    byKind: T.Boolean({ default: true, description: 'one window per kind; false: all kinds together' }),
    aggregates: T.Array(T.Union(['quantiles', 'distinct', 'last', 'kinds'].map((a) => T.Literal(a))), {
      default: [],
      uniqueItems: true,
      description: 'beyond count, sum, min, max, mean, variance and the change versus the previous window',
    }),
    timeMode: T.Union([T.Literal('event'), T.Literal('processing')], { default: 'event' }),
    outOfOrder: Duration('10s', 'allowed out-of-orderness: watermark = max event time - this'),
    allowedLateness: Duration(
      '2m',
      'how long after the watermark passes a window it still takes late events',
    ),
    idleTimeout: Duration('30s', 'an input partition silent this long no longer holds the watermark back'),
    maxClockSkew: T.Union(
      [
        T.Literal('off'),
        Duration('5s', 'event times further ahead of the clock do not advance the watermark'),
      ],
      {
        default: '5s',
        description: 'a device with a fast clock still counts, but cannot make everyone else late',
      },
    ),
    updates: T.Union([T.Literal('off'), Duration('5s', 'emit-on-update interval')], {
      default: '5s',
      description: 'how often open windows emit provisional results ("off" for final only)',
    }),
  },
  { additionalProperties: false },
);

const MetricDef = T.Object(
  {
    unit: T.String({ maxLength: 16 }),
    min: T.Number(),
    max: T.Number(),
  },
  { additionalProperties: false },
);

const DEFAULT_METRICS = {
  water_level: { unit: 'm', min: -20, max: 200 },
  gas_ppm: { unit: 'ppm', min: 0, max: 1_000_000 },
  smoke_obscuration: { unit: '%/m', min: 0, max: 100 },
  noise_db: { unit: 'dB', min: 0, max: 200 },
  manhole_tilt: { unit: 'deg', min: 0, max: 90 },
  pm25: { unit: 'ug/m3', min: 0, max: 5000 },
  temperature: { unit: 'C', min: -60, max: 200 },
};

const DEFAULT_VIDEO_EVENTS = [
  'heartbeat',
  'crowd_gathering',
  'intrusion',
  'fire_smoke',
  'illegal_parking',
  'vehicle_congestion',
  'fall_detected',
  'loitering',
  'fight',
  'illegal_vending',
  'garbage_overflow',
];

// The hotline taxonomy: everyday 12345 categories, the 14 work-safety sectors, 四控 and 六无.
export const DEFAULT_HOTLINE_CATEGORIES = [
  'complaint.noise',
  'complaint.environment',
  'complaint.sanitation',
  'complaint.traffic',
  'complaint.property',
  'complaint.service',
  'dispute.neighbour',
  'dispute.family',
  'dispute.labour',
  'dispute.land',
  'dispute.property_fee',
  'petition.general',
  'request.consultation',
  'request.repair',
  'safety.hazchem_fireworks',
  'safety.coal_mine',
  'safety.non_coal_mine',
  'safety.fire',
  'safety.road_transport',
  'safety.transport',
  'safety.metallurgy',
  'safety.special_equipment',
  'safety.fishing_vessel',
  'safety.tourism',
  'safety.gas',
  'safety.construction',
  'safety.industrial_park',
  'safety.hazardous_waste',
  'security.illegal_petition',
  'security.drugs',
  'security.homicide',
  'security.gangs',
  'security.cult',
  'security.mass_incident',
  'security.theft_robbery',
  'security.fraud',
];

const TierDef = T.Object(
  {
    name: T.String({ pattern: '^[a-z][a-z0-9_]{0,15}$' }),
    color: T.String({ pattern: '^#[0-9a-fA-F]{6}$', description: 'console colour' }),
    label: T.Object(
      { 'zh-CN': T.String({ maxLength: 16 }), en: T.String({ maxLength: 16 }) },
      { additionalProperties: false },
    ),
    ackSla: Duration(undefined, 'unacknowledged this long → escalated one org level up (督办)'),
    reach: LevelT,
  },
  { additionalProperties: false },
);

const DEFAULT_TIERS = [
  {
    name: 'yellow',
    color: '#e6b800',
    label: { 'zh-CN': '黄色', en: 'Yellow' },
    ackSla: '30m',
    reach: 'community',
  },
  {
    name: 'orange',
    color: '#ff7a00',
    label: { 'zh-CN': '橙色', en: 'Orange' },
    ackSla: '15m',
    reach: 'street',
  },
  { name: 'red', color: '#e02424', label: { 'zh-CN': '红色', en: 'Red' }, ackSla: '5m', reach: 'city' },
];

const WebhookTargetT = T.Object(
  {
    url: T.String({ pattern: '^https?://', maxLength: 2048 }),
    // biome-ignore lint/suspicious/noTemplateCurlyInString: documents the config's ${VAR} interpolation
    secret: T.Optional(T.String({ minLength: 16, description: 'HMAC key; use ${ENV_VAR}' })),
    format: T.Optional(T.Union([T.Literal('cloudevents'), T.Literal('alertmanager')])),
  },
  { additionalProperties: false },
);

const Phone = T.String({ pattern: '^\\+?[0-9]{6,15}$' });

const Contact = T.Object(
  {
    id: T.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }),
    name: T.String({ minLength: 1, maxLength: 64 }),
    phone: T.Optional(Phone),
    webhook: T.Optional(WebhookTargetT),
    locale: T.Union([T.Literal('zh-CN'), T.Literal('en')], { default: 'zh-CN' }),
  },
  { additionalProperties: false },
);

const AlertingSchema = T.Object(
  {
    enabled: T.Boolean({ default: true }),
    rulesFile: T.Optional(
      T.String({ description: 'YAML rules; watched and hot-reloaded. Default: built-in rules' }),
    ),
    tiers: T.Array(TierDef, {
      default: DEFAULT_TIERS,
      minItems: 2,
      maxItems: 7,
      description: 'the tier palette, lowest first (三色 by default; 五色 works too)',
    }),
    evaluationInterval: Duration('1s', 'how often timers (pending, hold, absence, SLA) are checked'),
    grouping: T.Object(
      {
        wait: Duration(
          '10s',
          'notifications for one recipient wait this long to be grouped (not the top tier)',
        ),
        maxAlerts: T.Integer({ minimum: 1, maximum: 100, default: 20 }),
      },
      { default: {}, additionalProperties: false },
    ),
    flapping: T.Object(
      {
        window: Duration('30m', 'state changes are counted over this span'),
        threshold: T.Integer({
          minimum: 2,
          default: 6,
          description: 'this many changes in the window → flapping',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    maintenance: T.Array(
      T.Object(
        {
          name: T.String({ minLength: 1, maxLength: 64 }),
          matchers: T.Record(T.String({ pattern: '^[a-z_]{1,32}$' }), T.String({ maxLength: 256 })),
          start: T.String({ description: 'ISO time' }),
          end: T.String({ description: 'ISO time' }),
          comment: T.String({ default: '' }),
        },
        { additionalProperties: false },
      ),
      { default: [], description: 'scheduled quiet periods: matching alerts are logged, not notified' },
    ),
    contacts: T.Array(
      T.Composite([Contact, T.Object({ area: T.String({ minLength: 1, maxLength: 64 }) })], {
        additionalProperties: false,
      }),
      {
        default: [],
        description: 'duty contacts per org node (grid … city)',
      },
    ),
    departments: T.Array(
      T.Composite(
        [
          Contact,
          T.Object({
            categories: T.Array(T.String({ maxLength: 64 }), {
              minItems: 1,
              description: "rule categories, '*' suffix for a prefix, e.g. 'safety.*'",
            }),
            tiers: T.Optional(T.Array(T.String(), { description: 'only these tiers (default: all)' })),
          }),
        ],
        { additionalProperties: false },
      ),
      { default: [] },
    ),
    webhook: T.Object(
      {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: documents the config's ${VAR} interpolation
        secret: T.String({ default: '', description: 'default HMAC key; use ${ENV_VAR}' }),
        format: T.Union([T.Literal('cloudevents'), T.Literal('alertmanager')], { default: 'cloudevents' }),
        timeout: Duration('5s', 'per attempt'),
        retries: T.Integer({ minimum: 0, maximum: 20, default: 5 }),
        minBackoff: Duration('500ms', 'first retry delay; doubles each try, with jitter'),
        maxBackoff: Duration('1m', 'retry delay cap'),
        perTargetPerMinute: T.Integer({ minimum: 1, default: 120 }),
      },
      { default: {}, additionalProperties: false },
    ),
    sms: T.Object(
      {
        enabled: T.Boolean({ default: false }),
        url: T.String({ default: '', description: 'generic JSON SMS provider endpoint' }),
        // biome-ignore lint/suspicious/noTemplateCurlyInString: documents the config's ${VAR} interpolation
        apiKey: T.String({ default: '', description: 'provider credential; use ${ENV_VAR}' }),
        signName: T.String({ default: '', maxLength: 16, description: '短信签名, e.g. 【某市综治中心】' }),
        tiers: T.Array(T.String(), { default: ['orange', 'red'] }),
        perRecipient: T.Integer({ minimum: 1, default: 5, description: 'messages per recipient per window' }),
        perRecipientWindow: Duration('10m', 'the rate-limit window'),
        timeout: Duration('5s', 'per attempt'),
        retries: T.Integer({ minimum: 0, maximum: 10, default: 3 }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { default: {}, additionalProperties: false },
);

const ConsoleUser = T.Object(
  {
    name: T.String({ pattern: '^[a-z0-9][a-z0-9_.-]{1,31}$', description: 'login name' }),
    displayName: T.String({ minLength: 1, maxLength: 64 }),
    role: T.Union(
      ['viewer', 'officer', 'commander', 'admin'].map((r) => T.Literal(r)),
      { description: 'viewer reads; officer acts on alerts; commander also silences; admin all' },
    ),
    area: T.Optional(
      T.String({ minLength: 1, maxLength: 64, description: 'jurisdiction: an org node (default: the city)' }),
    ),
    passwordHash: T.String({
      pattern: '^scrypt\\$',
      maxLength: 512,
      description: 'from `gridwatch hash-password`; never the password itself',
    }),
    locale: T.Union([T.Literal('zh-CN'), T.Literal('en')], { default: 'zh-CN' }),
  },
  { additionalProperties: false },
);

const ConsoleSchema = T.Object(
  {
    users: T.Array(ConsoleUser, { default: [], maxItems: 10_000 }),
    demoUsers: T.Boolean({
      default: true,
      description: 'with no users configured, create demo users (one per role, two districts) and print them',
    }),
    session: T.Object(
      {
        ttl: Duration('12h', 'a session ends this long after login, whatever happens'),
        idle: Duration('2h', 'a session ends after this long without a request'),
        secureCookie: T.Boolean({ default: false, description: 'mark the cookie Secure (serve over HTTPS)' }),
      },
      { default: {}, additionalProperties: false },
    ),
    login: T.Object(
      {
        maxFailures: T.Integer({ minimum: 1, default: 5, description: 'per user name and per address' }),
        window: Duration('15m', 'failures are counted over, and lock out for, this long'),
      },
      { default: {}, additionalProperties: false },
    ),
    replayLimit: T.Integer({
      minimum: 10,
      default: 5000,
      description: 'most transitions replayed to a reconnecting client; beyond it the client reloads',
    }),
    windowUpdateInterval: Duration('1s', 'live chart updates are sent at most this often per socket'),
  },
  { default: {}, additionalProperties: false },
);

export const ConfigSchema = T.Object(
  {
    dataDir: T.String({ default: './data', description: 'where the embedded store and checkpoints live' }),
    server: T.Object(
      {
        host: T.String({ default: '127.0.0.1' }),
        port: T.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
        bodyLimitBytes: T.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024, default: 4 * 1024 * 1024 }),
      },
      { default: {}, additionalProperties: false },
    ),
    log: T.Object(
      {
        level: T.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => T.Literal(l)),
          { default: 'info' },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    store: T.Object(
      {
        mode: T.Union([T.Literal('embedded'), T.Literal('server')], { default: 'embedded' }),
        url: T.String({ default: 'http://127.0.0.1:8123' }),
        username: T.String({ default: 'default' }),
        password: T.String({ default: '' }),
        database: T.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$', default: 'gridwatch' }),
      },
      { default: {}, additionalProperties: false },
    ),
    bus: T.Object(
      {
        mode: T.Union([T.Literal('memory'), T.Literal('kafka')], {
          default: 'memory',
          description: 'memory: one process (embedded); kafka: distributed roles',
        }),
        kafka: T.Object(
          {
            brokers: T.String({
              default: '127.0.0.1:9092',
              description: 'bootstrap servers, comma-separated',
            }),
            topicPrefix: T.String({ pattern: '^[A-Za-z0-9._-]{0,100}$', default: 'gridwatch.' }),
            partitions: T.Integer({
              minimum: 1,
              maximum: 64,
              default: 6,
              description: 'partitions of each event topic (created if missing)',
            }),
            replicationFactor: T.Integer({ minimum: 1, maximum: 7, default: 1 }),
            clientId: T.String({ default: 'gridwatch' }),
            /** librdkafka settings passed through (security.protocol, sasl.*, ...); secrets via ${ENV}. */
            settings: T.Record(T.String(), T.Union([T.String(), T.Number(), T.Boolean()]), { default: {} }),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    state: T.Object(
      {
        mode: T.Union([T.Literal('memory'), T.Literal('redis')], {
          default: 'memory',
          description: 'memory: one process (embedded); redis: shared by alert and console roles',
        }),
        redis: T.Object(
          {
            url: T.String({
              default: 'redis://127.0.0.1:6379',
              // biome-ignore lint/suspicious/noTemplateCurlyInString: documents the config's ${VAR} interpolation
              description: 'redis[s]://[user:password@]host:port[/db]; the password via ${ENV}',
            }),
            keyPrefix: T.String({ pattern: '^[A-Za-z0-9._:-]{0,64}$', default: 'gridwatch:' }),
            leaseTtl: Duration('6s', 'an alert engine that stops renewing its lease is replaced after this'),
            commandTimeout: Duration(
              '10s',
              'an officer action forwarded to the alert engine fails after this',
            ),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    ingest: T.Object(
      {
        maxRecordsPerRequest: T.Integer({ minimum: 1, maximum: 100_000, default: 10_000 }),
        maxFuture: Duration('10m', 'how far ahead of the clock an event time may be'),
        minTimestamp: T.String({
          default: '2000-01-01T00:00:00Z',
          description: 'event times before this are rejected',
        }),
        commitInterval: Duration('5ms', 'group-commit wait: records arriving within it share one insert'),
        maxBatch: T.Integer({ minimum: 1, maximum: 200_000, default: 20_000 }),
        maxPendingRecords: T.Integer({
          minimum: 1,
          default: 200_000,
          description: 'beyond this, ingest answers 429',
        }),
        dedupWindow: Duration('2h', 'how long an accepted event id is remembered for idempotent retries'),
        dedupMaxEntries: T.Integer({ minimum: 1000, default: 5_000_000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    windows: T.Array(WindowSpec, {
      default: [
        {
          name: 'sensor_1m',
          source: 'sensor',
          size: '1m',
          levels: ['grid', 'street', 'district', 'city'],
          aggregates: ['quantiles', 'last', 'distinct'],
          outOfOrder: '10s',
          allowedLateness: '2m',
          idleTimeout: '30s',
        },
        {
          name: 'video_5m',
          source: 'video',
          type: 'hopping',
          size: '5m',
          advance: '1m',
          levels: ['grid', 'district', 'city'],
          aggregates: ['distinct'],
          outOfOrder: '30s',
          allowedLateness: '5m',
          idleTimeout: '30s',
        },
        {
          name: 'hotline_1h',
          source: 'hotline',
          type: 'hopping',
          size: '1h',
          advance: '15m',
          levels: ['grid', 'community', 'street', 'district', 'city'],
          outOfOrder: '1m',
          allowedLateness: '1h',
          idleTimeout: '1m',
        },
        {
          name: 'hotline_24h',
          source: 'hotline',
          size: '24h',
          offset: '16h',
          byKind: false,
          levels: ['grid', 'community', 'street', 'district', 'city'],
          aggregates: ['kinds'],
          outOfOrder: '1m',
          allowedLateness: '6h',
          idleTimeout: '5m',
          updates: '1m',
        },
      ],
    }),
    processor: T.Object(
      {
        checkpointInterval: Duration('5s', 'how often window state is flushed and checkpointed'),
        maxOpenWindows: T.Integer({ minimum: 100, default: 2_000_000 }),
        maxKeys: T.Integer({
          minimum: 100,
          maximum: 16_777_216,
          default: 2_000_000,
          description:
            'per window spec: (grid, kind) series and unregistered device ids held; events that would add one more go to the dead letters',
        }),
        maxLagRecords: T.Integer({
          minimum: 1,
          default: 500_000,
          description: 'processor backlog that makes ingest answer 429',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    org: T.Object(
      {
        file: T.Optional(T.String({ description: 'YAML or JSON org registry: nodes and devices' })),
        demo: T.Object(
          {
            seed: T.Integer({ default: 20261122 }),
            districts: T.Integer({ minimum: 1, maximum: 64, default: 6 }),
            streetsPerDistrict: T.Integer({ minimum: 1, maximum: 64, default: 8 }),
            communitiesPerStreet: T.Integer({ minimum: 1, maximum: 64, default: 8 }),
            gridsPerCommunity: T.Integer({ minimum: 1, maximum: 64, default: 8 }),
            sensorsPerGrid: T.Number({ minimum: 0, maximum: 20, default: 1.5 }),
            camerasPerGrid: T.Number({ minimum: 0, maximum: 20, default: 0.5 }),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    sensors: T.Object(
      {
        metrics: T.Record(T.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }), MetricDef, {
          default: DEFAULT_METRICS,
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    video: T.Object(
      {
        eventTypes: T.Array(T.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }), {
          default: DEFAULT_VIDEO_EVENTS,
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    hotline: T.Object(
      {
        categories: T.Array(T.String({ pattern: '^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)*$', maxLength: 64 }), {
          default: DEFAULT_HOTLINE_CATEGORIES,
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    auth: T.Object(
      {
        keys: T.Array(ApiKey, { default: [] }),
        demoKeys: T.Boolean({
          default: true,
          description: 'with no keys configured, create and print demo keys',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    alerting: AlertingSchema,
    console: ConsoleSchema,
    simulator: T.Object(
      {
        enabled: T.Boolean({ default: false }),
        seed: T.Integer({ default: 7 }),
        sensorInterval: Duration('30s', 'how often each sensor reports'),
        cameraEventsPerMinute: T.Number({
          minimum: 0,
          default: 0.3,
          description: 'per camera, besides heartbeats',
        }),
        heartbeatInterval: Duration('60s', 'camera heartbeat period'),
        hotlineCallsPerHour: T.Number({
          minimum: 0,
          default: 600,
          description: 'city-wide, at the daily peak',
        }),
        incidents: T.Boolean({ default: true }),
        incidentEvery: Duration('10m', 'a new cycle of scripted incidents starts this often'),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type GridwatchConfig = Static<typeof ConfigSchema>;
export type WindowSpecConfig = Static<typeof WindowSpec>;
export type ApiKeyConfig = Static<typeof ApiKey>;
export type AlertingConfig = Static<typeof AlertingSchema>;
export type ConsoleConfig = Static<typeof ConsoleSchema>;
export type ConsoleUserConfig = Static<typeof ConsoleUser>;
export type TierConfig = Static<typeof TierDef>;
