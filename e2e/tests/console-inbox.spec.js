// The console's support inbox in the browser, on a private `accord demo`: a tenant made by
// `accord tenant create --owner-email` (its owner sets a password from the printed link), a
// customer of that tenant sends a support request from the hosted flow's support form; then,
// with JavaScript off, the owner finds it among the open requests, checks the reply link
// (mailto: the customer's address, the reference in the subject), marks it resolved, finds it
// among the resolved ones, and reopens it; and axe (WCAG 2.0/2.1/2.2 A and AA) on the inbox's
// three filters and the API keys page, in English and French, light and dark. The security
// guard (headers, CSP violations, third-party requests) watches every page.
import { test, expect } from '@playwright/test';
import { runAxe } from '../lib/axe.js';
import { createTenant, setPassword, signedIn as signInAs } from '../lib/console.js';
import { LANGS } from '../lib/env.js';
import { startPrivateDemo } from '../lib/server.js';

const OWNER = 'owner@inbox.example';
const CUSTOMER = 'ana+shop@bluebell.example';

test.describe.configure({ mode: 'serial' });

let demo;
let reference;

test.beforeAll(async ({ browser }) => {
  demo = await startPrivateDemo();
  const { link, out } = createTenant(demo, 'Inbox Lender', OWNER);
  const key = /^API key[^:]*: (\S+)/m.exec(out);
  expect(key, out).not.toBeNull();
  const api = (path, body) => fetch(`${demo.baseUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key[1]}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  }).then(async (r) => { expect(r.status, path).toBe(201); return r.json(); });

  const context = await browser.newContext();
  const page = await context.newPage();
  await setPassword(page, demo, link);

  // A customer of this tenant asks for help from the flow.
  const company = await api('/v1/companies', { name: 'Bluebell Bakery Ltd' });
  const session = await api(`/v1/companies/${company.id}/link-sessions`, { locale: 'en' });
  const customer = await browser.newContext();
  const flow = await customer.newPage();
  await flow.goto(session.url);
  await flow.goto(`${demo.baseUrl}/link/support`);
  await flow.locator('#message').fill('The sign-in page of my bank never loads.');
  await flow.locator('#reply_to').fill(CUSTOMER);
  await flow.locator('main form.support-form button[type=submit]').click();
  reference = /SR-[A-Z2-9]{8}/.exec(await flow.locator('main [role=status]').textContent())[0];
  await customer.close();
  await context.close();
});

test.afterAll(async () => {
  await demo?.stop();
});

/** A guarded context signed in as the owner. */
const signedIn = (browser, options) => signInAs(browser, demo, OWNER, options);

test('without JavaScript: a request is found open, replied to by e-mail, resolved and reopened', async ({ browser }) => {
  const { context, guard, page } = await signedIn(browser, { javaScriptEnabled: false });
  await page.goto(`${demo.baseUrl}/console/support`);
  expect(await page.locator('script').count()).toBe(0);
  const card = page.locator('article.card', { hasText: reference });
  await expect(card).toBeVisible();
  await expect(page.locator('nav.filters a[aria-current=page]')).toHaveAttribute('href', '/console/support?status=open');
  const mailto = await card.locator('a[href^="mailto:"]').getAttribute('href');
  expect(mailto).toBe(`mailto:ana%2Bshop@bluebell.example?subject=Your%20support%20request%20${reference}`);

  await card.getByRole('button', { name: `Mark ${reference} resolved` }).click();
  await expect(page).toHaveURL(/\/console\/support\?status=open&done=support-resolved$/);
  await expect(page.locator('.flash.ok')).toBeVisible();
  await expect(page.locator('article.card', { hasText: reference })).toHaveCount(0);

  await page.locator('nav.filters a[href="/console/support?status=resolved"]').click();
  const resolved = page.locator('article.card', { hasText: reference });
  await expect(resolved).toContainText(`Resolved by ${OWNER}`);
  await resolved.getByRole('button', { name: `Reopen ${reference}` }).click();
  await expect(page).toHaveURL(/\/console\/support\?status=resolved&done=support-reopened$/);
  await expect(page.locator('article.card', { hasText: reference })).toHaveCount(0);
  await page.goto(`${demo.baseUrl}/console/support`);
  await expect(page.locator('article.card', { hasText: reference })).toBeVisible();

  await page.goto(`${demo.baseUrl}/console/audit`);
  await expect(page.locator('tbody')).toContainText('support.resolved');
  await expect(page.locator('tbody')).toContainText('support.reopened');
  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});

for (const lang of LANGS) {
  for (const theme of ['light', 'dark']) {
    test(`axe: zero violations on the inbox and the API keys page (${lang}, ${theme})`, async ({ browser }) => {
      const { context, guard, page } = await signedIn(browser, { colorScheme: theme });
      const found = [];
      // With one request resolved, so the resolved filter has a card (and its Reopen button).
      await page.goto(`${demo.baseUrl}/console/support`);
      await page.locator('article.card', { hasText: reference }).locator('form[action$="/resolve"] button').click();
      for (const path of ['/console/support?status=open', '/console/support?status=resolved', '/console/support?status=all', '/console/api-keys']) {
        const res = await page.goto(`${demo.baseUrl}${path}${path.includes('?') ? '&' : '?'}lang=${lang}`);
        expect(res.status(), path).toBe(200);
        await expect(page.locator('html')).toHaveAttribute('lang', lang);
        const r = await runAxe(page);
        if (r.violations.length) found.push({ path, violations: r.violations });
      }
      await page.goto(`${demo.baseUrl}/console/support?status=resolved`);
      await page.locator('article.card', { hasText: reference }).locator('form[action$="/reopen"] button').click();
      await expect(page).toHaveURL(/done=support-reopened/);
      expect(found, JSON.stringify(found, null, 2)).toEqual([]);
      await guard.settle();
      expect(guard.problems).toEqual([]);
      await context.close();
    });
  }
}
