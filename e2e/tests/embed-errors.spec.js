// The embedded flow in the states nobody demos: a used, expired or unknown link, an origin the
// tenant did not allow, a tap before the frame's script runs, a page that never gets its
// script, the network cut mid-flow. Each time the customer reads what happened and the host
// hears it (`onError` with a code), and the host page always comes back (× or Escape, or the
// SDK's own close button when the flow is gone). Also: `onEvent` for each step, both exits
// giving `onFinish{status:"exited"}` then `onClose`, focus into the flow, no autofocus
// warning, and the console warning when the host's CSP blocks the SDK's styles.
//
// A private demo (it changes the tenant's embedding origins) whose links live one minute, so
// the expired-link test can wait for a link made at the start.
import path from 'node:path';
import { test, expect, guardContext } from '../lib/fixtures.js';
import { Api } from '../lib/api.js';
import { startPrivateDemo } from '../lib/server.js';
import { REPO_DIR } from '../lib/env.js';
import { t } from '../lib/i18n.js';
import { sel } from '../lib/flow.js';

const { startHost } = await import(path.join(REPO_DIR, 'examples', 'html', 'server.mjs'));

const TENANT = 'Northwind Lending';
const SUPPORT_EMAIL = 'help@northwind-lending.example';
let demo;
let api;
let host; // allowed origin
let stranger; // not on the list
let companyId;
let expiring; // { url, expiresAt } made at the start

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  demo = await startPrivateDemo({ env: { ACCORD_SESSIONS__LINK_TTL_SECS: '60' } });
  api = new Api(demo.baseUrl, demo.apiKey);
  companyId = (await api.createCompany('Bluebell Bakery Ltd')).id;
  const made = await api.ok('POST', `/v1/companies/${companyId}/link-sessions`, {});
  expiring = { url: made.url, expiresAt: Date.parse(made.expires_at) };
  const opts = { accordUrl: demo.baseUrl, apiKey: demo.apiKey, companyId };
  host = await startHost({ ...opts, host: '127.0.0.2' });
  stranger = await startHost({ ...opts, host: '127.0.0.3' });
  const r = await api.call('PATCH', '/v1/link-settings', { integration: { embedding_origins: [host.origin] } }, 'application/merge-patch+json');
  expect(r.status, JSON.stringify(r.json)).toBe(200);
});

test.afterAll(async () => {
  await host?.close();
  await stranger?.close();
  await demo?.stop();
});

async function hostPage(browser, options = {}) {
  const context = await browser.newContext(options);
  const guard = await guardContext(context, { origin: demo.baseUrl, allowOrigins: [host.origin, stranger.origin] });
  const page = await context.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(m.text()));
  return { context, guard, page, consoleLines };
}

/** Opens the modal on `origin` with `url` (a link made here) or the host server's own link. */
async function openModal(page, { url, origin = host.origin } = {}) {
  if (url) await page.route(origin + '/link-session', (r) => r.fulfill({ json: { url } }));
  await page.goto(origin + '/');
  await page.locator('#connect').click();
  await expect(page.locator('.accord-embed[role=dialog]')).toBeVisible();
  return page.frameLocator('.accord-embed iframe');
}

const names = (page) => page.evaluate(() => window.__events.map((e) => e.name));
const eventsOf = (page, name) => page.evaluate((n) => window.__events.filter((e) => e.name === n).map((e) => e.data), name);

/** The host page is itself again: no modal, nothing inert, focus on the opener. */
async function regained(page) {
  await expect(page.locator('.accord-embed')).toHaveCount(0);
  expect(await page.evaluate(() => document.querySelector('main').inert)).toBe(false);
  await expect(page.locator('#connect')).toBeFocused();
  await page.locator('#connect').click({ trial: true });
}

/** The last two events are onFinish{status:"exited"} then onClose. */
async function exitedThenClosed(page, company = null) {
  const all = await page.evaluate(() => window.__events);
  expect(all.slice(-2).map((e) => e.name)).toEqual(['finish', 'close']);
  expect(all.at(-2).data).toMatchObject({ status: 'exited', companyId: company });
}

async function useUp(url) {
  const r = await fetch(url, { redirect: 'manual' });
  expect(r.status).toBe(303);
}

/** The SDK's own message, when the flow is gone. */
const sdkAlert = (page) => page.locator('.accord-embed [role=alert]');

test('a used link shows the tenant\'s page in the link\'s language, tells the host, and × gives the page back', async ({ browser }) => {
  const { context, guard, page } = await hostPage(browser);
  const url = await api.linkUrl(companyId, { locale: 'fr' });
  await useUp(url);
  const frame = await openModal(page, { url });
  await expect(frame.locator(sel.h1)).toHaveText(t('fr', 'error-link-title'));
  await expect(frame.locator('footer.help')).toContainText(SUPPORT_EMAIL);
  await expect.poll(() => names(page)).toEqual(['error']);
  const [error] = await eventsOf(page, 'error');
  expect(error).toMatchObject({ code: 'link_unusable', recoverable: false });
  expect(error.message).toMatch(/new link session/);
  expect(await page.evaluate(() => window.__steps)).toEqual(['error']);
  await page.locator('.accord-embed > button').click();
  await regained(page);
  await exitedThenClosed(page);
  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});

test('an unknown link shows Accord\'s page, and Escape gives the page back', async ({ browser }) => {
  const { context, guard, page } = await hostPage(browser);
  const frame = await openModal(page, { url: `${demo.baseUrl}/link/${'A'.repeat(43)}` });
  await expect(frame.locator(sel.h1)).toHaveText(t('en', 'error-link-title'));
  await expect.poll(() => names(page)).toEqual(['error']);
  expect((await eventsOf(page, 'error'))[0].code).toBe('link_unusable');
  await page.keyboard.press('Escape');
  await regained(page);
  await exitedThenClosed(page);
  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});

test('an origin not on the list: the SDK says so itself, the host hears not_framed, and the link stays usable', async ({ browser }) => {
  const { context, guard, page } = await hostPage(browser);
  const url = await api.linkUrl(companyId);
  await openModal(page, { url, origin: stranger.origin });
  await expect(sdkAlert(page)).toBeVisible({ timeout: 15_000 });
  await expect(sdkAlert(page)).toContainText('not responding');
  const [error] = await eventsOf(page, 'error');
  expect(error).toMatchObject({ code: 'not_framed', recoverable: false });
  await expect(sdkAlert(page).locator('button')).toBeFocused();
  await sdkAlert(page).locator('button').click();
  await regained(page);
  await exitedThenClosed(page);
  await guard.settle();
  // The refusal is the point: the stranger's frame caused it, not Accord.
  expect(guard.problems.filter((p) => !/frame-ancestors/.test(p))).toEqual([]);

  // The refused framing did not use the link: the allowed host opens it.
  const allowed = await hostPage(browser);
  const frame = await openModal(allowed.page, { url });
  await expect(frame.locator(sel.start)).toBeVisible();
  await allowed.guard.settle();
  expect(allowed.guard.problems).toEqual([]);
  await allowed.context.close();
  await context.close();
});

test('a tap before the frame\'s script runs does nothing, and the flow goes on once it runs', async ({ browser }) => {
  const { context, guard, page } = await hostPage(browser);
  const frame = await openModal(page);
  await expect(frame.locator(sel.start)).toBeVisible();
  await expect.poll(() => page.evaluate(() => window.__steps)).toEqual(['landing']);
  // Hold the next page's embed.js.
  let release;
  const held = new Promise((r) => { release = r; });
  await context.route('**/assets/embed.js', async (route) => { await held; await route.continue(); });
  await frame.locator(sel.start).click();
  const tile = frame.locator(sel.tile('sandbox'));
  await expect(tile).toBeVisible();
  // The customer taps before the script: the page takes no input yet.
  const box = await tile.boundingBox();
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await page.waitForTimeout(500);
  await expect(tile).toBeVisible();
  expect(await page.evaluate(() => window.__steps)).toEqual(['landing']);
  release();
  await expect.poll(() => page.evaluate(() => window.__steps)).toEqual(['landing', 'select']);
  await context.unroute('**/assets/embed.js');
  await tile.click();
  await expect(frame.locator(sel.agree)).toBeVisible();
  await page.locator('.accord-embed > button').click();
  const ask = frame.locator('dialog#accord-exit');
  await expect(ask).toBeVisible();
  await ask.locator('button[value=leave]').click();
  await regained(page);
  await exitedThenClosed(page, companyId);
  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});

test('a page whose script never loads: the SDK shows its own message and its close button works', async ({ browser }) => {
  const { context, guard, page } = await hostPage(browser);
  const frame = await openModal(page);
  await expect(frame.locator(sel.start)).toBeVisible();
  await context.route('**/assets/embed.js', (route) => route.abort());
  await frame.locator(sel.start).click();
  await expect(sdkAlert(page)).toBeVisible({ timeout: 15_000 });
  expect((await eventsOf(page, 'error'))[0]).toMatchObject({ code: 'unresponsive', recoverable: false });
  await page.locator('.accord-embed > button').click();
  await regained(page);
  await exitedThenClosed(page);
  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});

test('the network cut mid-flow: the SDK notices, and Escape gives the page back', async ({ browser }) => {
  const { context, guard, page } = await hostPage(browser);
  const frame = await openModal(page);
  await expect(frame.locator(sel.start)).toBeVisible();
  await context.route(`${demo.baseUrl}/**`, (route) => route.abort('internetdisconnected'));
  await frame.locator(sel.start).click();
  await expect(sdkAlert(page)).toBeVisible({ timeout: 15_000 });
  expect((await eventsOf(page, 'error'))[0].code).toBe('unresponsive');
  await page.keyboard.press('Escape');
  await regained(page);
  await exitedThenClosed(page);
  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});

test('× on a flow that stopped answering still closes', async ({ browser }) => {
  const { context, guard, page } = await hostPage(browser);
  const frame = await openModal(page);
  await expect(frame.locator(sel.start)).toBeVisible();
  await expect.poll(() => page.evaluate(() => window.__steps)).toEqual(['landing']);
  // The frame's page stops listening (as a page outside the flow would): a new document
  // drops every listener.
  const framed = page.frames().find((f) => f !== page.mainFrame() && f.url().startsWith(demo.baseUrl));
  await framed.evaluate(() => { document.open(); document.write('<p>gone</p>'); document.close(); });
  await page.locator('.accord-embed > button').click();
  await regained(page);
  expect(await names(page)).toEqual(['error', 'finish', 'close']);
  expect((await eventsOf(page, 'error'))[0].code).toBe('unresponsive');
  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});

test('steps reach onEvent, focus goes into the flow, and both exits end the same way', async ({ browser }) => {
  const { context, guard, page, consoleLines } = await hostPage(browser);
  let frame = await openModal(page);
  await expect(frame.locator(sel.start)).toBeVisible();
  await expect.poll(() => page.evaluate(() => window.__steps)).toEqual(['landing']);
  // The first Tab moves within the flow, not to the modal's close button.
  await expect.poll(() => page.evaluate(() => document.activeElement.tagName)).toBe('IFRAME');
  await page.keyboard.press('Tab');
  expect(await page.evaluate(() => document.activeElement.tagName)).toBe('IFRAME');
  const framed = () => page.frames().find((f) => f !== page.mainFrame() && f.url().startsWith(demo.baseUrl));
  expect(await framed().evaluate(() => document.activeElement !== document.body)).toBe(true);
  await frame.locator(sel.start).click();
  await frame.locator(sel.tile('sandbox')).click();
  await expect(frame.locator(sel.agree)).toBeVisible();
  await expect.poll(() => page.evaluate(() => window.__steps)).toEqual(['landing', 'select', 'consent']);

  // The flow's own Exit: words that fit the embedded case, then finish and close.
  await frame.locator('a.exit[data-exit]').click();
  const dialog = frame.locator('dialog#exit-dialog');
  await expect(dialog).toBeVisible();
  await expect(dialog.locator('.exit-text')).toHaveText(t('en', 'exit-question-embedded', { tenant: TENANT }));
  await expect(dialog.locator('[data-exit-cancel]')).toBeFocused();
  await dialog.locator('button[type=submit]').click();
  await regained(page);
  expect(await names(page)).toEqual(['finish', 'close']);
  await exitedThenClosed(page, companyId);

  // Escape, then Leave: the same two events.
  await page.evaluate(() => { window.__events = []; window.__steps = []; });
  frame = await openModal(page);
  await expect(frame.locator(sel.start)).toBeVisible();
  await frame.locator(sel.start).click();
  await expect(frame.locator(sel.tile('sandbox'))).toBeVisible();
  await page.keyboard.press('Escape');
  const ask = frame.locator('dialog#accord-exit');
  await expect(ask).toBeVisible();
  await expect(ask.locator('button[value=stay]')).toBeFocused();
  await ask.locator('button[value=leave]').click();
  await regained(page);
  expect(await names(page)).toEqual(['finish', 'close']);
  await exitedThenClosed(page, companyId);

  expect(consoleLines.filter((l) => /autofocus/i.test(l))).toEqual([]);
  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});

test('the SDK warns when the host\'s CSP blocks its styles and no nonce was given', async ({ browser }) => {
  const { context, guard, page, consoleLines } = await hostPage(browser);
  await page.goto(host.origin + '/');
  await page.evaluate((url) => { window.Accord.open({ url }); }, await api.linkUrl(companyId));
  await expect.poll(() => consoleLines.filter((l) => /Content-Security-Policy blocked the SDK's styles/.test(l)).length).toBe(1);
  await page.keyboard.press('Escape');
  await guard.settle();
  expect(guard.problems.filter((p) => !/style-src/.test(p))).toEqual([]);
  await context.close();
});

test('an expired link shows the tenant\'s page and the host hears link_unusable', async ({ browser }) => {
  const wait = expiring.expiresAt + 1000 - Date.now();
  test.setTimeout(60_000 + Math.max(0, wait));
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const { context, guard, page } = await hostPage(browser);
  const frame = await openModal(page, { url: expiring.url });
  await expect(frame.locator(sel.h1)).toHaveText(t('en', 'error-link-title'));
  await expect(frame.locator('footer.help')).toContainText(SUPPORT_EMAIL);
  await expect.poll(() => names(page)).toEqual(['error']);
  expect((await eventsOf(page, 'error'))[0]).toMatchObject({ code: 'link_unusable', recoverable: false });
  await page.locator('.accord-embed > button').click();
  await regained(page);
  await exitedThenClosed(page);
  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});
