// The rule file's shape. One rule carries every tier of the palette as its own condition
// (`yellow: "> 50"`, `red: "> 500"`), so the schema is built from the configured palette.
import { Type as T, type TSchema } from '@sinclair/typebox';
import { LEVELS } from '../../config/schema.ts';

export const RULE_TYPES = [
  'threshold',
  'window',
  'trend',
  'anomaly',
  'absence',
  'connectivity',
  'correlation',
] as const;
export type RuleType = (typeof RULE_TYPES)[number];

export const WINDOW_FIELDS = [
  'count',
  'sum',
  'mean',
  'min',
  'max',
  'p50',
  'p90',
  'p99',
  'distinct',
  'last',
] as const;
export type WindowField = (typeof WINDOW_FIELDS)[number];

const Duration = (description: string) =>
  T.Union([T.String({ pattern: '^\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)$' }), T.Integer({ minimum: 0 })], {
    description,
  });
const ConditionT = T.Union([T.String({ maxLength: 64 }), T.Number()]);
const lit = <S extends string>(xs: readonly S[]) => T.Union(xs.map((x) => T.Literal(x)));

export function ruleSchema(tierNames: readonly string[]): TSchema {
  const tiers: Record<string, TSchema> = {};
  for (const t of tierNames) tiers[t] = T.Optional(ConditionT);
  return T.Object(
    {
      name: T.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }),
      title: T.Union([
        T.String({ minLength: 1, maxLength: 80 }),
        T.Object(
          {
            'zh-CN': T.String({ minLength: 1, maxLength: 80 }),
            en: T.String({ minLength: 1, maxLength: 80 }),
          },
          { additionalProperties: false },
        ),
      ]),
      description: T.Optional(T.String({ maxLength: 1000 })),
      category: T.String({ pattern: '^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)*$', maxLength: 64 }),
      enabled: T.Optional(T.Boolean()),
      type: lit(RULE_TYPES),
      source: T.Optional(lit(['sensor', 'video', 'hotline'])),
      kinds: T.Optional(T.Array(T.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 256 })),
      window: T.Optional(T.String({ minLength: 1, maxLength: 32 })),
      field: T.Optional(lit(WINDOW_FIELDS)),
      level: T.Optional(lit(LEVELS)),
      per: T.Optional(lit(['device', 'area'])),
      measure: T.Optional(lit(['slope', 'growth', 'rises', 'z', 'score'])),
      over: T.Optional(T.Integer({ minimum: 2, maximum: 48 })),
      minValue: T.Optional(T.Number()),
      offlineAfter: T.Optional(Duration('a device silent this long counts as offline (connectivity)')),
      rules: T.Optional(
        T.Array(T.String({ maxLength: 64 }), { minItems: 2, maxItems: 8, uniqueItems: true }),
      ),
      within: T.Optional(Duration('correlation: member alerts must fire within this span')),
      boost: T.Optional(T.Integer({ minimum: 0, maximum: 6 })),
      for: T.Optional(Duration('a condition must hold this long before the alert fires')),
      clear: T.Optional(ConditionT),
      hold: T.Optional(Duration('the clear condition must hold this long before the alert resolves')),
      cooldown: T.Optional(
        Duration('after resolving, a recurrence reopens the alert instead of notifying anew'),
      ),
      staleAfter: T.Optional(Duration('no observation this long counts as clear')),
      departments: T.Optional(T.Array(T.String({ maxLength: 64 }), { maxItems: 32, uniqueItems: true })),
      labels: T.Optional(
        T.Record(T.String({ pattern: '^[a-z_][a-z0-9_]{0,31}$' }), T.String({ maxLength: 128 })),
      ),
      ...tiers,
    },
    { additionalProperties: false },
  );
}

export function rulesFileSchema(tierNames: readonly string[]): TSchema {
  return T.Object(
    { rules: T.Array(ruleSchema(tierNames), { maxItems: 100_000 }) },
    { additionalProperties: false },
  );
}
