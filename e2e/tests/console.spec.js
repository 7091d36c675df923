// The tenant console in the browser, on a private `accord demo`: a tenant made by
// `accord tenant create --owner-email`, whose owner sets a password from the printed link; then
// axe (WCAG 2.0/2.1/2.2 A and AA) on every console page in English and French, light and dark;
// signing in and reaching a page with the keyboard only (visible focus at every stop); the
// console with JavaScript off (it sends no script at all); forged posts refused; every page
// within the flow's weight budget; screenshots in docs/screenshots/console-*.png. The security
// guard (headers, CSP violations, third-party requests) watches every page.
import { test, expect } from '@playwright/test';
import { guardContext } from '../lib/fixtures.js';
import { runAxe } from '../lib/axe.js';
import path from 'node:path';
import { createTenant, PASSWORD, setPassword, signedIn as signInAs } from '../lib/console.js';
import { LANGS, SCREENSHOT_DIR } from '../lib/env.js';
import { startPrivateDemo } from '../lib/server.js';
import { BUDGET, formatTable, startMeter } from '../lib/weight.js';

const OWNER = 'owner@console.example';
const PAGES = [
  '/console',
  '/console/companies',
  '/console/support',
  '/console/platforms',
  '/console/webhooks',
  '/console/notices',
  '/console/settings',
  '/console/ledger',
  '/console/api-keys',
  '/console/people',
  '/console/audit',
  '/console/account',
];

// Pages walked by axe but kept out of the weight budget: the notice draft is a form holding a
// whole notice in both its texts, as large as the notice itself.
const AXE_ONLY = ['/console/notices/draft'];

test.describe.configure({ mode: 'serial' });

let demo;
let companyPath;

test.beforeAll(async ({ browser }) => {
  demo = await startPrivateDemo();
  const { link } = createTenant(demo, 'Console Lender', OWNER);
  const context = await browser.newContext();
  const page = await context.newPage();
  await setPassword(page, demo, link);
  // A company, so its page is walked too.
  await page.goto(`${demo.baseUrl}/console/companies`);
  await page.locator('#name').fill('Bluebell Bakery Ltd');
  await page.locator('button[name=then][value=""]').click();
  await expect(page).toHaveURL(/\/console\/companies\/[0-9a-f-]+\?done=company-created$/);
  companyPath = new URL(page.url()).pathname;
  await context.close();
});

test.afterAll(async () => {
  await demo?.stop();
});

/** A guarded context signed in as the owner. */
const signedIn = (browser, options) => signInAs(browser, demo, OWNER, options);

for (const lang of LANGS) {
  for (const theme of ['light', 'dark']) {
    test(`axe: zero violations on every console page (${lang}, ${theme})`, async ({ browser }) => {
      const { context, guard, page } = await signedIn(browser, { colorScheme: theme });
      const found = [];
      for (const path of [...PAGES, ...AXE_ONLY, companyPath, '/console/sign-in']) {
        if (path === '/console/sign-in') {
          await page.locator('form[action="/console/sign-out"] button').click();
          await expect(page).toHaveURL(/\/console\/sign-in/);
        }
        const res = await page.goto(`${demo.baseUrl}${path}?lang=${lang}`);
        expect(res.status(), path).toBe(200);
        await expect(page.locator('html')).toHaveAttribute('lang', lang);
        const r = await runAxe(page);
        if (r.violations.length) found.push({ path, violations: r.violations });
      }
      expect(found, JSON.stringify(found, null, 2)).toEqual([]);
      await guard.settle();
      expect(guard.problems).toEqual([]);
      await context.close();
    });
  }
}

test('signing in and opening a page with the keyboard only, focus visible at every stop', async ({ browser }) => {
  const context = await browser.newContext();
  const guard = await guardContext(context, { origin: demo.baseUrl });
  const page = await context.newPage();
  await page.goto(`${demo.baseUrl}/console/sign-in`);
  const focusedId = () => page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
  const outlined = () => page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle !== 'none');
  // Skip link, the two language links, then the form.
  for (let i = 0; i < 10 && (await focusedId()) !== 'email'; i += 1) {
    await page.keyboard.press('Tab');
    expect(await outlined(), `focus visible on ${await focusedId()}`).toBe(true);
  }
  expect(await focusedId()).toBe('email');
  await page.keyboard.type(OWNER);
  await page.keyboard.press('Tab');
  expect(await focusedId()).toBe('password');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/console$/);
  // To the navigation's People link, then Enter.
  let onPeople = false;
  for (let i = 0; i < 20 && !onPeople; i += 1) {
    await page.keyboard.press('Tab');
    expect(await outlined()).toBe(true);
    onPeople = await page.evaluate(() => document.activeElement?.getAttribute('href') === '/console/people');
  }
  expect(onPeople).toBe(true);
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/console\/people$/);
  await expect(page.locator('nav.console-nav a[aria-current=page]')).toHaveAttribute('href', '/console/people');
  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});

test('without JavaScript: an API key is made and shown once, then revoked', async ({ browser }) => {
  const { context, guard, page } = await signedIn(browser, { javaScriptEnabled: false });
  await page.goto(`${demo.baseUrl}/console/api-keys`);
  expect(await page.locator('script').count()).toBe(0);
  await page.locator('#name').fill('reporting job');
  await page.locator('form.stack button[type=submit]').click();
  const key = (await page.locator('.flash code').textContent()).trim();
  expect(key).toMatch(/^acc_/);
  const api = await fetch(`${demo.baseUrl}/v1/companies`, { headers: { authorization: `Bearer ${key}` } });
  expect(api.status).toBe(200);
  await page.goto(`${demo.baseUrl}/console/api-keys`);
  await expect(page.locator('body')).not.toContainText(key);
  await page.locator('tr', { hasText: 'reporting job' }).locator('button.danger').click();
  await expect(page).toHaveURL(/done=key-revoked/);
  const after = await fetch(`${demo.baseUrl}/v1/companies`, { headers: { authorization: `Bearer ${key}` } });
  expect(after.status).toBe(401);
  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});

test('forged posts are refused: without the token, and with it from another site', async ({ browser }) => {
  const { context, page } = await signedIn(browser);
  const before = await page.goto(`${demo.baseUrl}/console/api-keys`);
  expect(before.status()).toBe(200);
  const token = await page.locator('form[action="/console/sign-out"] input[name=csrf]').inputValue();
  const noToken = await context.request.post(`${demo.baseUrl}/console/api-keys`, { form: { name: 'forged' } });
  expect(noToken.status()).toBe(403);
  const crossSite = await context.request.post(`${demo.baseUrl}/console/api-keys`, {
    form: { name: 'forged', csrf: token },
    headers: { origin: 'http://127.0.0.2:9', 'sec-fetch-site': 'cross-site' },
  });
  expect(crossSite.status()).toBe(403);
  await page.goto(`${demo.baseUrl}/console/api-keys`);
  await expect(page.locator('body')).not.toContainText('forged');
  await context.close();
});

test('every console page within 30 KB transferred and 14 KB of HTML, no third-party request', async ({ browser }) => {
  const { context, guard, page } = await signedIn(browser);
  const meter = await startMeter(page);
  const rows = [];
  for (const p of [...PAGES, companyPath]) {
    rows.push(await meter.measure(p, () => page.goto(`${demo.baseUrl}${p}`)));
  }
  await meter.stop();
  console.log(`console weight (cache disabled):\n${formatTable(rows)}`);
  for (const r of rows) {
    expect.soft(r.status, `${r.step}: status`).toBe(200);
    expect.soft(r.urls.filter((u) => new URL(u).origin !== demo.baseUrl && !u.startsWith('data:')), `${r.step}: third-party requests`).toEqual([]);
    expect.soft(r.html, `${r.step}: HTML as sent ≤ 14 KB`).toBeLessThanOrEqual(BUDGET.html);
    expect.soft(r.total, `${r.step}: total transferred ≤ 30 KB`).toBeLessThanOrEqual(BUDGET.total);
    expect.soft(r.html, `${r.step}: the HTML was measured`).toBeGreaterThan(0);
  }
  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});

test('screenshots of the console', async ({ browser }) => {
  for (const [name, p, lang, viewport] of [
    ['console-overview-desktop-en', '/console', 'en', { width: 1280, height: 900 }],
    ['console-company-desktop-en', companyPath, 'en', { width: 1280, height: 900 }],
    ['console-people-desktop-fr', '/console/people', 'fr', { width: 1280, height: 900 }],
    ['console-account-phone-en', '/console/account', 'en', { width: 375, height: 812 }],
  ]) {
    const { context, page } = await signedIn(browser, { viewport });
    await page.goto(`${demo.baseUrl}${p}?lang=${lang}`);
    // The account page's key and QR code are fresh on every visit: blurred out of the picture.
    await page.screenshot({
      path: path.join(SCREENSHOT_DIR, `${name}.png`),
      fullPage: true,
      animations: 'disabled',
      caret: 'hide',
      mask: [page.locator('img.qr, code.secret, details code')],
    });
    await context.close();
  }
});
