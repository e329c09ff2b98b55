// The console in a real browser: Debian's Chromium driven by playwright-core against an embedded
// gridwatch serving the built SPA. Officers of two districts and a commander, a gas reading
// posted through the ingest API, acknowledgement seen by others, reload, jurisdiction over the
// API and the socket, 30 s of lost connection with replay, and screenshots at wall-screen and
// laptop sizes saved to test-artifacts/console/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gridwatch } from '../bin/embedded.ts';
import { ensureWebBuilt } from '../console/server/web-build.ts';
import type { Alert } from '../console/shared/protocol.ts';
import { gasSensorIn, postGas, startConsoleGridwatch, USERS, type UserName } from './console-kit.ts';
import { waitFor } from './harness.ts';

const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts', 'console');
const WALL = { width: 1920, height: 1080 };
const LAPTOP = { width: 1366, height: 768 };

let gw: Gridwatch & { dataDir: string };
let browser: Browser;
const contexts: BrowserContext[] = [];
const timings: Record<string, number> = {};

beforeAll(async () => {
  await ensureWebBuilt();
  mkdirSync(ARTIFACTS, { recursive: true });
  gw = await startConsoleGridwatch();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}, 240_000);

afterAll(async () => {
  writeFileSync(join(ARTIFACTS, 'timings.json'), `${JSON.stringify(timings, null, 2)}\n`);
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await gw?.close();
});

async function signIn(user: UserName, viewport = WALL): Promise<Page> {
  const context = await browser.newContext({ viewport, locale: 'zh-CN' });
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(`${gw.url}/login`);
  await page.getByTestId('login-username').fill(user);
  await page.getByTestId('login-password').fill(USERS[user].password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('alert-board').waitFor();
  await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();
  return page;
}

const row = (page: Page, id: string) => page.locator(`[data-testid="alert-row"][data-alert-id="${id}"]`);

async function gasAlert(area: string, nth: number, ppm = 900): Promise<{ alert: Alert; postedAt: number }> {
  const device = gasSensorIn(gw.org, area, nth);
  const postedAt = Date.now();
  await postGas(gw.url, device, ppm);
  const alert = await waitFor(`gas alert on ${device}`, async () =>
    [...gw.alerts!.lifecycle.active()].find((a) => a.device === device && a.state === 'firing'),
  );
  return { alert, postedAt };
}

describe('the console in a browser', () => {
  let officerA: Page;
  let officerB: Page;
  let commander: Page;
  let red: Alert;

  it('shows district A its red alert live, never to district B', async () => {
    [officerA, officerB, commander] = await Promise.all([
      signIn('officer-a'),
      signIn('officer-b'),
      signIn('commander'),
    ]);
    const posted = await gasAlert('d01', 0);
    red = posted.alert;
    expect(red.tier).toBe('red');
    await row(officerA, red.id).waitFor({ timeout: 10_000 });
    // Reported, not asserted: wall-clock time depends on the machine (see the console bench).
    timings.post_to_officer_board_ms = Date.now() - posted.postedAt;
    expect(await row(officerA, red.id).getAttribute('data-tier')).toBe('red');
    expect(await row(officerA, red.id).getAttribute('data-state')).toBe('firing');
    // A new red is heard and seen: the audible cue played, the row pulses.
    expect(await officerA.evaluate(() => window.__gw.alarms)).toBeGreaterThanOrEqual(1);
    expect(await row(officerA, red.id).getAttribute('class')).toMatch(/\bpulse\b/);
    await row(commander, red.id).waitFor();

    // B hears its own district's alert, and has still never shown A's.
    const own = (await gasAlert('d02', 0)).alert;
    await row(officerB, own.id).waitFor();
    expect(await row(officerB, red.id).count()).toBe(0);
    const seenByB = await officerB.evaluate(() => window.__gw.applied.length);
    expect(seenByB).toBeGreaterThan(0);
  });

  it('lets B neither read nor act on it, through the API or the socket', async () => {
    const api = await officerB.evaluate(async (id) => {
      const ack = await fetch(`/v1/alerts/${id}/ack`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      const read = await fetch(`/v1/alerts/${id}`);
      return { ack: ack.status, read: read.status, body: await ack.json() };
    }, red.id);
    expect(api).toMatchObject({ ack: 403, read: 403, body: { error: 'GW_ERR_OUT_OF_JURISDICTION' } });
    const socket = await officerB.evaluate(
      (id) =>
        new Promise((resolve) => {
          const s = window.__gw.socket as {
            emit(e: string, req: unknown, done: (r: unknown) => void): void;
          };
          s.emit('alert:act', { id, action: 'ack' }, resolve);
        }),
      red.id,
    );
    expect(socket).toMatchObject({ ok: false, statusCode: 403 });
    expect(gw.alerts!.lifecycle.get(red.id)!.state).toBe('firing');
  });

  it('acknowledges in one click; the commander sees it, and a reload keeps it', async () => {
    await officerA.screenshot({ path: join(ARTIFACTS, 'board-wall.png') });
    await row(officerA, red.id).getByTestId('row-ack').click();
    const acked = commander.locator(
      `[data-testid="alert-row"][data-alert-id="${red.id}"][data-state="acknowledged"]`,
    );
    const t0 = Date.now();
    await acked.waitFor({ timeout: 10_000 });
    timings.ack_to_commander_ms = Date.now() - t0;
    expect(gw.alerts!.lifecycle.get(red.id)).toMatchObject({
      state: 'acknowledged',
      acknowledgedBy: 'officer-a',
    });
    await commander.reload();
    await commander.getByTestId('alert-board').waitFor();
    await acked.waitFor();
    await officerA.reload();
    await row(officerA, red.id).waitFor();
    expect(await row(officerA, red.id).getAttribute('data-state')).toBe('acknowledged');

    // The detail view: timeline with who acknowledged, and the screenshot.
    await row(commander, red.id).click();
    const detail = commander.getByTestId('alert-detail');
    await detail.waitFor();
    expect(await detail.getAttribute('data-alert-id')).toBe(red.id);
    await commander
      .locator('[data-testid="timeline-entry"][data-type="acknowledged"][data-actor="officer-a"]')
      .waitFor();
    await commander.getByTestId('source-events').waitFor();
    await commander.screenshot({ path: join(ARTIFACTS, 'detail-wall.png') });
  });

  it('resolves from the detail view with a feedback note, and the alert leaves every board', async () => {
    await officerA.goto(`${gw.url}/alerts/${red.id}`);
    await officerA.getByTestId('alert-detail').waitFor();
    await officerA.getByTestId('action-resolve').click();
    await officerA.getByTestId('action-confirm').click();
    await officerA.getByTestId('action-error').waitFor(); // feedback is required
    await officerA.getByTestId('resolve-feedback').fill('已关阀，燃气公司到场处置，回访居民无异常');
    await officerA.getByTestId('action-confirm').click();
    await officerA.locator('[data-testid="alert-detail"][data-state="resolved"]').waitFor();
    await commander.goto(`${gw.url}/`);
    await commander.getByTestId('alert-board').waitFor();
    await waitFor('gone from the commander board', async () => (await row(commander, red.id).count()) === 0);
    const log = await gw.alerts!.alertLog.history(red.id);
    expect(log.at(-1)).toMatchObject({ type: 'resolved', actor: 'officer-a' });
  });

  it('after 30 s without its socket, shows every missed alert once', async () => {
    await officerA.goto(`${gw.url}/`);
    await officerA.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();
    await officerA.evaluate(() => (window.__gw.socket as { disconnect(): void }).disconnect());
    await officerA.getByTestId('disconnected-banner').waitFor();
    const missed: Alert[] = [];
    for (let i = 1; i <= 3; i++) missed.push((await gasAlert('d01', i, 60 * i)).alert);
    await gw.alerts!.comment(missed[0]!.id, 'commander', 'while the officer was away');
    await officerA.waitForTimeout(30_000);
    expect(await row(officerA, missed[0]!.id).count()).toBe(0); // really disconnected
    await officerA.evaluate(() => (window.__gw.socket as { connect(): void }).connect());
    await officerA.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();
    for (const a of missed) await row(officerA, a.id).waitFor();
    await expect.poll(() => officerA.getByTestId('disconnected-banner').count()).toBe(0);
    for (const a of missed) expect(await row(officerA, a.id).count()).toBe(1);
    const applied = await officerA.evaluate(() => window.__gw.applied);
    expect(new Set(applied).size).toBe(applied.length);
    expect(applied).toEqual([...applied].sort((x, y) => x - y));
  }, 120_000);

  it('draws the map coloured by worst tier, with drill-down', async () => {
    await commander.goto(`${gw.url}/map`);
    const map = commander.getByTestId('org-map');
    await map.waitFor();
    const d01 = commander.locator('[data-testid="map-cell"][data-node-id="d01"]');
    await d01.waitFor();
    expect(await d01.getAttribute('data-tier')).not.toBe('none'); // d01 has open alerts
    await commander.screenshot({ path: join(ARTIFACTS, 'map-wall.png') });
    await d01.click({ position: { x: 5, y: 5 } });
    await commander.getByTestId('map-breadcrumb').getByText(gw.org.node('d01')!.name).waitFor();
  });

  it('is readable on a laptop too', async () => {
    const page = await signIn('commander', LAPTOP);
    await page.screenshot({ path: join(ARTIFACTS, 'board-laptop.png') });
    const first = page.getByTestId('alert-row').first();
    await first.click();
    await page.getByTestId('alert-detail').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'detail-laptop.png') });
    await page.getByTestId('nav-map').click();
    await page.getByTestId('org-map').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'map-laptop.png') });
    // Nothing overflows sideways at laptop width.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
  });
});

declare global {
  interface Window {
    __gw: { socket: unknown; applied: number[]; alarms: number };
  }
}
