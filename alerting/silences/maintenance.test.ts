import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../config/load.ts';
import { MaintenanceWindows } from './maintenance.ts';
import { smallCity } from './test-fixtures.ts';

const org = smallCity();
const G1 = 'd01s01c01g01';
const G2 = 'd02s01c01g01';

/** Windows as the config loader hands them over (defaults applied). */
function windows(list: unknown[]) {
  return validateConfig({ alerting: { maintenance: list } }).alerting.maintenance;
}

function configError(list: unknown[]): { code?: string; message: string } {
  try {
    new MaintenanceWindows(windows(list), org);
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error('expected a config error');
}

describe('maintenance windows', () => {
  const mw = new MaintenanceWindows(
    windows([
      {
        name: 'pump-station',
        matchers: { within: 'd01s01', kind: 'water_level' },
        start: '2030-01-01T02:00:00+08:00',
        end: '2030-01-01T04:00:00+08:00',
      },
      {
        name: 'camera-upgrade',
        matchers: { source: 'video' },
        start: '2030-01-01T03:00:00Z',
        end: '2030-01-02T03:00:00Z',
        comment: '雪亮工程 firmware',
      },
    ]),
    org,
  );
  const start = Date.parse('2030-01-01T02:00:00+08:00');
  const end = Date.parse('2030-01-01T04:00:00+08:00');
  const water = { source: 'sensor', kind: 'water_level', area: G1 };

  it('is open from start (inclusive) to end (exclusive), zones honoured', () => {
    expect(mw.active(water, start - 1)).toBeUndefined();
    expect(mw.active(water, start)).toBe('pump-station');
    expect(mw.active(water, end - 1)).toBe('pump-station');
    expect(mw.active(water, end)).toBeUndefined();
    expect(start).toBe(Date.parse('2029-12-31T18:00:00Z'));
  });

  it('matches exactly, and within by the org tree', () => {
    expect(mw.active({ ...water, kind: 'water_level_2' }, start)).toBeUndefined();
    expect(mw.active({ ...water, area: 'd01s01' }, start)).toBe('pump-station');
    expect(mw.active({ ...water, area: 'd01' }, start)).toBeUndefined();
    expect(mw.active({ ...water, area: G2 }, start)).toBeUndefined();
    expect(mw.active({ source: 'video', area: G2 }, Date.parse('2030-01-01T12:00:00Z'))).toBe(
      'camera-upgrade',
    );
    expect(mw.active({ area: G2 }, Date.parse('2030-01-01T12:00:00Z'))).toBeUndefined();
  });

  it('names the first open window when several match', () => {
    expect(mw.active({ ...water, source: 'video' }, Date.parse('2030-01-01T03:30:00+08:00'))).toBe(
      'pump-station',
    );
  });

  it('keeps the comment', () => {
    expect(mw.windows[1]).toMatchObject({ name: 'camera-upgrade', comment: '雪亮工程 firmware' });
  });

  it.each<[string, unknown, RegExp]>([
    [
      'a time that is not ISO',
      { start: 'next Tuesday' },
      /alerting\.maintenance\[0\]\.start: expected an ISO-8601 time with a zone/,
    ],
    [
      'a time without a zone',
      { start: '2030-01-01T02:00:00' },
      /alerting\.maintenance\[0\]\.start: expected an ISO-8601 time with a zone/,
    ],
    [
      'a day the calendar lacks',
      { end: '2030-02-30T00:00:00Z' },
      /alerting\.maintenance\[0\]\.end: not a calendar time/,
    ],
    [
      'an end before the start',
      { end: '2029-12-31T00:00:00Z' },
      /alerting\.maintenance\[0\]\.end: must be after start/,
    ],
    ['no matchers', { matchers: {} }, /alerting\.maintenance\[0\]\.matchers: at least one matcher/],
    [
      'an unknown node',
      { matchers: { within: 'ghost' } },
      /alerting\.maintenance\[0\]\.matchers\.within\.value: "ghost" is not a node/,
    ],
  ])('refuses %s with the path of the field', (_what, patch, message) => {
    const ok = {
      name: 'ok',
      matchers: { tier: 'red' },
      start: '2030-01-01T00:00:00Z',
      end: '2030-01-02T00:00:00Z',
    };
    const e = configError([ok, { ...ok, name: 'bad', ...(patch as object) }]);
    expect(e.code).toBe('GW_ERR_CONFIG_INVALID');
    expect(e.message).toMatch(new RegExp(message.source.replace('\\[0\\]', '\\[1\\]')));
    expect(e.message).not.toMatch(/maintenance\[0\]/);
  });

  it('reports every bad field at once', () => {
    const e = configError([{ name: 'x', matchers: { tier: 'red' }, start: 'soon', end: 'later' }]);
    expect(e.message).toMatch(/maintenance\[0\]\.start: .*\n.*maintenance\[0\]\.end: /);
  });
});
