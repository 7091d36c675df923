// The embed SDK on a tenant's page of another site: the flow in the modal
// iframe, the platform sign-in in a popup, the host's events by postMessage with Accord's exact
// origin (and a forged message ignored), framing refused for an origin not on the tenant's
// list, the SDK's weight, and the modal's accessibility; screenshots embed-<device>-<lang>.png.
//
// The host page is examples/html (index.html served by server.mjs), on 127.0.0.2: another
// site than Accord's 127.0.0.1, so the iframe is third-party and its cookies count for nothing.
// These tests change tenant-wide settings (embedding origins), so they run on a private demo.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { test, expect, guardContext } from '../lib/fixtures.js';
import { Api } from '../lib/api.js';
import { startPrivateDemo } from '../lib/server.js';
import { runAxe } from '../lib/axe.js';
import { REPO_DIR, SCREENSHOT_DIR } from '../lib/env.js';
import { t } from '../lib/i18n.js';
import { PLATFORMS, sel } from '../lib/flow.js';

const { startHost } = await import(path.join(REPO_DIR, 'examples', 'html', 'server.mjs'));

const RETURN_URL = 'https://lender.example/accord/done';
let demo;
let api;
let host; // allowed origin
let returning; // allowed origin whose link sessions carry a return URL on its own site
const returnLink = {}; // returning's link-session body (its return URL needs its port)
let stranger; // the same page on an origin not on the list
let companyId; // the customer every host page connects

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  demo = await startPrivateDemo();
  api = new Api(demo.baseUrl, demo.apiKey);
  const company = await api.createCompany('Bluebell Bakery Ltd');
  companyId = company.id;
  const opts = { accordUrl: demo.baseUrl, apiKey: demo.apiKey, companyId: company.id };
  host = await startHost({ ...opts, host: '127.0.0.2' });
  returning = await startHost({ ...opts, host: '127.0.0.2', linkSession: returnLink });
  returnLink.return_url = `${returning.origin}/accord/done`;
  stranger = await startHost({ ...opts, host: '127.0.0.3' });
  // A merge patch: only `integration` changes; the demo's support and trust settings stay.
  const before = await api.linkSettings();
  const r = await api.call('PATCH', '/v1/link-settings', {
    integration: { embedding_origins: [host.origin, returning.origin], return_urls: [RETURN_URL, returnLink.return_url] },
  }, 'application/merge-patch+json');
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  expect({ ...r.json, integration: before.integration }).toEqual(before);
});

test.afterAll(async () => {
  await host?.close();
  await returning?.close();
  await stranger?.close();
  await demo?.stop();
});

/** A context guarded like every other test, on the private demo, with the host page allowed. */
async function hostPage(browser, options = {}, extraOrigins = []) {
  const context = await browser.newContext(options);
  const guard = await guardContext(context, { origin: demo.baseUrl, allowOrigins: [host.origin, returning.origin, stranger.origin, ...extraOrigins] });
  // Every message the host page receives, with its origin (the SDK only passes data on).
  await context.addInitScript(() => {
    window.__messages = [];
    window.addEventListener('message', (e) => {
      window.__messages.push({ origin: e.origin, type: e.data && e.data.type });
    });
  });
  const page = await context.newPage();
  return { context, guard, page };
}

async function openModal(page, origin = host.origin) {
  await page.goto(origin + '/');
  await page.locator('#connect').click();
  const modal = page.locator('.accord-embed[role=dialog][aria-modal=true]');
  await expect(modal).toBeVisible();
  return page.frameLocator('.accord-embed iframe');
}

test('a tenant page embeds the flow, completes it through the popup, and hears the events', async ({ browser }) => {
  const { context, guard, page } = await hostPage(browser);
  const frame = await openModal(page);
  await frame.locator(sel.start).click();
  await frame.locator(sel.tile('sandbox')).click();
  await frame.locator(sel.agree).check();
  // The platform refuses to be framed: its sign-in opens in a popup from the customer's click.
  const [popup] = await Promise.all([context.waitForEvent('page'), frame.locator(sel.connect).click()]);
  await popup.waitForLoadState();
  // The sandbox's sign-in (lib/flow.js signInAtPlatform, less its last check: the window goes).
  await expect(popup).toHaveURL(/\/sandbox\/oauth\/authorize/);
  await popup.locator(sel.organisation).fill('Bluebell Bakery');
  // The popup's last page tells the iframe and closes itself; the iframe shows the success step.
  await Promise.all([popup.waitForEvent('close', { timeout: 10_000 }), popup.locator(sel.approve).click({ noWaitAfter: true })]);
  await expect(frame.locator(sel.h1)).toHaveText(t('en', 'success-heading', { platform: PLATFORMS.sandbox.name }));

  // The host's callbacks: consent, then connection, with identifiers only.
  await expect.poll(() => page.evaluate(() => window.__events.map((e) => e.name))).toEqual(['consent', 'connection']);
  const events = await page.evaluate(() => window.__events);
  expect(events[1].data.status).toBe('linked');
  expect(events[1].data.platform).toBe('sandbox');
  expect(events[1].data.connectionId).toMatch(/^[0-9a-f-]{36}$/);
  expect(events[0].data.connectionId).toBe(events[1].data.connectionId);
  // Every message from the flow came from Accord's exact origin.
  const messages = await page.evaluate(() => window.__messages);
  expect(messages.length).toBeGreaterThan(0);
  for (const m of messages) expect(m.origin).toBe(demo.baseUrl);

  // A forged message from any other origin (here the host page itself) is ignored.
  await page.evaluate(() => window.postMessage({ accord: 1, type: 'finish', data: { status: 'forged' } }, '*'));
  await page.waitForTimeout(300);
  await expect(page.locator('.accord-embed')).toBeVisible();
  expect(await page.evaluate(() => window.__events.map((e) => e.name))).toEqual(['consent', 'connection']);

  // Done: onFinish with the outcome, the modal closes, focus returns to the opener.
  await frame.locator(sel.done).click();
  await expect(page.locator('.accord-embed')).toHaveCount(0);
  const finish = (await page.evaluate(() => window.__events)).find((e) => e.name === 'finish');
  expect(finish.data).toMatchObject({ status: 'linked', platform: 'sandbox', connectionId: events[1].data.connectionId });
  expect(await page.evaluate(() => window.__events.map((e) => e.name))).toEqual(['consent', 'connection', 'finish', 'close']);
  await expect(page.locator('#connect')).toBeFocused();

  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});

/** The framed Accord page (the iframe's current document). */
function framedPage(page) {
  return page.frames().find((f) => f !== page.mainFrame() && f.url().startsWith(demo.baseUrl));
}

/** How many messages of `type` the framed page has received so far. Its recorder (hostPage's
 * init script) listens before embed.js does, so once it counts a message, embed.js has handled it. */
function received(page, type) {
  return framedPage(page).evaluate((t) => window.__messages.filter((m) => m.type === t).length, type);
}

test('a blocked popup sends the sign-in to the top level, and the return URL brings the customer back', async ({ browser }) => {
  const { context, guard, page } = await hostPage(browser);
  // The popup blocker, inside Accord's framed pages only: window.open answers null.
  await context.addInitScript((accord) => {
    if (window.location.origin === accord && window.parent !== window) {
      window.open = () => null;
    }
  }, demo.baseUrl);
  const frame = await openModal(page, returning.origin);
  await frame.locator(sel.start).click();
  await frame.locator(sel.tile('sandbox')).click();
  await frame.locator(sel.agree).check();
  await Promise.all([page.waitForURL(/\/sandbox\/oauth\/authorize/), frame.locator(sel.connect).click()]);
  expect(context.pages()).toHaveLength(1); // no popup: the host page itself went to the platform
  await page.locator(sel.organisation).fill('Bluebell Bakery');
  await Promise.all([page.waitForURL((u) => u.href.startsWith(returnLink.return_url)), page.locator(sel.approve).click()]);
  // Back on the tenant's site, at its registered return URL, with the outcome.
  await expect(page.locator('h1')).toHaveText('Welcome back');
  const back = new URL(page.url());
  expect(back.origin + back.pathname).toBe(returnLink.return_url);
  expect(back.searchParams.get('status')).toBe('linked');
  expect(back.searchParams.get('platform')).toBe('sandbox');
  expect(back.searchParams.get('companyId')).toBe(companyId);
  const connectionId = back.searchParams.get('connectionId');
  expect(connectionId).toMatch(/^[0-9a-f-]{36}$/);
  expect((await api.connection(companyId, connectionId)).status).toBe('linked');
  // Only identifiers and codes go back: never the code, the state or a token.
  expect([...back.searchParams.keys()].sort()).toEqual(['companyId', 'connectionId', 'platform', 'status']);
  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});

test('a sign-in denied in the popup reaches the host as onError with the platform error code', async ({ browser }) => {
  const { context, guard, page } = await hostPage(browser);
  const frame = await openModal(page);
  await frame.locator(sel.start).click();
  await frame.locator(sel.tile('sandbox')).click();
  await frame.locator(sel.agree).check();
  const [popup] = await Promise.all([context.waitForEvent('page'), frame.locator(sel.connect).click()]);
  await popup.waitForLoadState();
  await expect(popup).toHaveURL(/\/sandbox\/oauth\/authorize/);
  await Promise.all([popup.waitForEvent('close', { timeout: 10_000 }), popup.locator(sel.deny).click({ noWaitAfter: true })]);
  await expect.poll(() => page.evaluate(() => window.__events.map((e) => e.name))).toContain('error');
  const events = await page.evaluate(() => window.__events);
  const errors = events.filter((e) => e.name === 'error');
  expect(errors).toHaveLength(1);
  const { connectionId } = errors[0].data;
  expect(errors[0].data).toMatchObject({ code: 'sign_in_failed', recoverable: true, connectionId, status: 'error', errorCode: 'access_denied' });
  expect(errors[0].data.message).toMatch(/access_denied/);
  expect(connectionId).toMatch(/^[0-9a-f-]{36}$/);
  // The frame shows where things stand: nothing is linked, the platform's consent step is
  // there to try again, and the host heard of the failure only.
  await expect(frame.locator(sel.connect)).toBeVisible();
  await expect(frame.locator(sel.agree)).not.toBeChecked();
  expect((await page.evaluate(() => window.__events)).map((e) => e.name)).toEqual(['error']);
  expect((await api.connection(companyId, connectionId)).status).toBe('pending_auth');
  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});

test('the framed flow ignores exit and auth messages that are not from its parent or its popup', async ({ browser }) => {
  const { context, guard, page } = await hostPage(browser);
  const frame = await openModal(page);
  await expect(frame.locator(sel.start)).toBeVisible();
  const exitDialog = frame.locator('dialog#accord-exit');
  // A window of the host's own origin that is not the iframe's parent: a sibling frame.
  await page.evaluate(() => {
    const f = document.createElement('iframe');
    f.id = 'sibling';
    f.title = 'sibling';
    document.body.appendChild(f);
  });
  const sibling = await (await page.$('#sibling')).contentFrame();
  await sibling.evaluate(() => {
    window.parent.document.querySelector('.accord-embed iframe').contentWindow.postMessage({ accord: 1, type: 'exit' }, '*');
  });
  // Accord's own window, to itself: Accord's origin, but not the host's.
  await framedPage(page).evaluate(() => window.postMessage({ accord: 1, type: 'exit' }, '*'));
  await expect.poll(() => received(page, 'exit'), { message: 'the framed page got both messages' }).toBe(2);
  expect(await framedPage(page).evaluate(() => document.getElementById('accord-exit').open)).toBe(false);
  await expect(exitDialog).toBeHidden();
  // The same message from the parent is obeyed: the flow asks before leaving.
  await page.evaluate((accord) => {
    document.querySelector('.accord-embed iframe').contentWindow.postMessage({ accord: 1, type: 'exit' }, accord);
  }, demo.baseUrl);
  await expect(exitDialog).toBeVisible();
  await exitDialog.locator('button[value=stay]').click();
  await expect(exitDialog).toBeHidden();

  // With the platform popup open, an `auth` message from any other window is ignored.
  await frame.locator(sel.start).click();
  await frame.locator(sel.tile('sandbox')).click();
  await frame.locator(sel.agree).check();
  const [popup] = await Promise.all([context.waitForEvent('page'), frame.locator(sel.connect).click()]);
  await popup.waitForLoadState();
  const forged = { accord: 1, type: 'auth', data: { connectionId: '00000000-0000-4000-8000-000000000000', status: 'error', errorCode: 'forged' } };
  await framedPage(page).evaluate((m) => window.postMessage(m, window.location.origin), forged);
  await page.evaluate(([m, accord]) => {
    document.querySelector('.accord-embed iframe').contentWindow.postMessage(m, accord);
  }, [forged, demo.baseUrl]);
  await sibling.evaluate((m) => {
    window.parent.document.querySelector('.accord-embed iframe').contentWindow.postMessage(m, '*');
  }, forged);
  await expect.poll(() => received(page, 'auth'), { message: 'the consent step got the three forged messages and stayed' }).toBe(3);
  // The real popup still finishes the sign-in: the forged messages neither took its place
  // nor told the host anything.
  await popup.locator(sel.organisation).fill('Bluebell Bakery');
  await Promise.all([popup.waitForEvent('close', { timeout: 10_000 }), popup.locator(sel.approve).click({ noWaitAfter: true })]);
  await expect(frame.locator(sel.h1)).toHaveText(t('en', 'success-heading', { platform: PLATFORMS.sandbox.name }));
  await expect.poll(() => page.evaluate(() => window.__events.map((e) => e.name))).toEqual(['consent', 'connection']);
  const events = await page.evaluate(() => window.__events);
  expect(events[1].data.status).toBe('linked');
  expect(events[1].data.connectionId).not.toBe(forged.data.connectionId);
  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});

test('an origin not on the tenant list cannot frame the flow', async ({ browser }) => {
  const { context, guard, page } = await hostPage(browser);
  const refusals = [];
  page.on('console', (m) => { if (/frame-ancestors|refused to frame|Refused to display/i.test(m.text())) refusals.push(m.text()); });
  await openModal(page, stranger.origin);
  const frame = page.frames().find((f) => f !== page.mainFrame());
  await expect.poll(async () => frame.url()).not.toBe('about:blank');
  // A blocked frame holds Chromium's error page, never Accord's document.
  await expect.poll(async () => frame.evaluate(() => document.querySelector('main#main') === null).catch(() => true)).toBe(true);
  expect(refusals.length).toBeGreaterThan(0);
  await page.waitForTimeout(300);
  expect(await page.evaluate(() => window.__events)).toEqual([]);
  await guard.settle();
  // The violation is the point: the stranger's page caused it, not Accord.
  expect(guard.problems.filter((p) => !/frame-ancestors/.test(p))).toEqual([]);
  await context.close();
});

test('the SDK weighs at most 4 KB gzipped and the embed makes no third-party request', async ({ browser }) => {
  const res = await fetch(demo.baseUrl + '/sdk/link.js');
  expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
  const body = Buffer.from(await res.arrayBuffer());
  const gz = zlib.gzipSync(body, { level: 9 }).length;
  console.log(`/sdk/link.js: ${body.length} B, ${gz} B gzipped (budget 4096)`);
  expect(gz).toBeLessThanOrEqual(4096);
  const dts = await fetch(demo.baseUrl + '/sdk/link.d.ts');
  expect(dts.status).toBe(200);

  // The host page's requests: its own origin and Accord's, nothing else.
  const { context, guard, page } = await hostPage(browser);
  const origins = new Set();
  context.on('request', (r) => { const u = new URL(r.url()); if (u.protocol.startsWith('http')) origins.add(u.origin); });
  const frame = await openModal(page);
  await expect(frame.locator(sel.start)).toBeVisible();
  expect([...origins].sort()).toEqual([demo.baseUrl, host.origin].sort());
  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});

const DEVICES = {
  desktop: { viewport: { width: 1280, height: 900 } },
  phone: { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true },
};

for (const lang of ['en', 'fr']) {
  test(`the modal is accessible: focus inside, Escape asks, focus back (${lang})`, async ({ browser }) => {
    const { context, guard, page } = await hostPage(browser, { locale: lang === 'fr' ? 'fr-FR' : 'en-GB', colorScheme: 'light' });
    const frame = await openModal(page);
    await expect(frame.locator(sel.start)).toBeVisible();
    // Focus moved into the dialog (the iframe), and the rest of the page is inert.
    await expect.poll(() => page.evaluate(() => document.activeElement && document.activeElement.tagName)).toBe('IFRAME');
    expect(await page.evaluate(() => document.querySelector('main').inert)).toBe(true);
    // axe on the host page with the iframe open, and on the framed page itself.
    const { violations: hostViolations } = await runAxe(page);
    expect(hostViolations, JSON.stringify(hostViolations, null, 2)).toEqual([]);
    const framed = page.frames().find((f) => f.url().startsWith(demo.baseUrl));
    const { violations: framedViolations } = await runAxe(framed);
    expect(framedViolations, JSON.stringify(framedViolations, null, 2)).toEqual([]);

    for (const [device, options] of Object.entries(DEVICES)) {
      await page.setViewportSize(options.viewport);
      fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, `embed-${device}-${lang}.png`), animations: 'disabled', caret: 'hide' });
    }
    await page.setViewportSize(DEVICES.desktop.viewport);

    // Escape (focus in the flow) asks before leaving; "Stay" keeps the flow open.
    await frame.locator(sel.start).focus();
    await page.keyboard.press('Escape');
    const dialog = frame.locator('dialog#accord-exit');
    await expect(dialog).toBeVisible();
    await expect(dialog.locator('h2')).toHaveText(t(lang, 'embed-exit-title'));
    await dialog.locator('button[value=stay]').click();
    await expect(dialog).toBeHidden();
    await expect(page.locator('.accord-embed')).toBeVisible();
    // The close button asks too; "Leave" closes the modal and focus returns to the opener.
    await page.locator('.accord-embed > button').click();
    await expect(dialog).toBeVisible();
    await dialog.locator('button[value=leave]').click();
    await expect(page.locator('.accord-embed')).toHaveCount(0);
    await expect(page.locator('#connect')).toBeFocused();
    // Leaving ends like the flow's own Exit: onFinish (exited), then onClose.
    expect(await page.evaluate(() => window.__events.map((e) => e.name))).toEqual(['finish', 'close']);
    expect((await page.evaluate(() => window.__events))[0].data).toMatchObject({ status: 'exited', companyId });
    expect(await page.evaluate(() => document.querySelector('main').inert)).toBe(false);
    await guard.settle();
    expect(guard.problems).toEqual([]);
    await context.close();
  });
}
