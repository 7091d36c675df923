// Every page and state of the hosted flow and the manage page, in the order a customer meets
// them, for one fresh company. The accessibility, screenshot and weight tests walk it and do
// their work at each state.
//
//   visit(name, action): performs `action` (which navigates) and then looks at state `name`.
//   The default just runs the action and calls `onState(name, page)`.
import { expect } from '@playwright/test';
import { newCustomer } from './api.js';
import { COMPANY_NAME, BASE_URL } from './env.js';
import { expectHeading, sel, signInAtPlatform, PLATFORMS } from './flow.js';
import { t } from './i18n.js';

/** The states, in tour order (also the screenshot names). */
export const STATES = [
  'landing',
  'select',
  'select-search',
  'consent',
  'consent-error',
  'declined',
  'callback-error',
  'success',
  'receipt',
  'support',
  'support-errors',
  'support-done',
  'finished',
  'manage-return',
  'manage',
  'manage-confirm',
  'manage-disconnected',
  'guide',
  'privacy',
  'not-found',
  'link-used',
  'session-expired',
];

export async function tour(page, { api, lang, onState = async () => {}, visit, only } = {}) {
  const wanted = (name) => !only || only.includes(name);
  const look = visit || (async (name, action) => {
    await action();
    if (wanted(name)) await onState(name, page);
  });
  const books = PLATFORMS.sandbox;
  const { link } = await newCustomer(api, { name: COMPANY_NAME, locale: lang });
  const context = page.context();

  await look('landing', () => page.goto(link));
  await expectHeading(page, lang, 'landing-heading', { tenant: 'Northwind Lending' });

  await look('select', () => page.locator(sel.start).click());
  await expectHeading(page, lang, 'select-heading');

  await look('select-search', async () => {
    await page.locator(sel.search).fill('books');
    await page.locator(sel.search).press('Enter');
    await page.waitForURL(/\?q=books/);
  });
  await expect(page.locator('main a.platform')).toHaveCount(1);

  await look('consent', () => page.locator(sel.tile('sandbox')).click());
  await expectHeading(page, lang, 'consent-title', { platform: books.name });

  await look('consent-error', () => page.locator(sel.connect).click());
  await expect(page.locator('#agree-error')).toHaveText(t(lang, 'consent-error-unticked'));

  await look('declined', () => page.locator(sel.decline).click());
  await expectHeading(page, lang, 'declined-title');

  // Back to the consent, agree, and deny at the platform: the callback error.
  await page.locator('main a[href="/link/platforms"]').click();
  await page.locator(sel.tile('sandbox')).click();
  await page.locator(sel.agree).check();
  await page.locator(sel.connect).click();
  await expect(page).toHaveURL(/\/sandbox\/oauth\/authorize/);
  await look('callback-error', () => signInAtPlatform(page, { decision: 'deny' }));
  await expectHeading(page, lang, 'callback-error-heading', { platform: books.name });

  // Try again, approve this time.
  await page.locator(sel.retry).click();
  await expect(page).toHaveURL(/\/sandbox\/oauth\/authorize/);
  await look('success', () => signInAtPlatform(page, { decision: 'approve' }));
  await expectHeading(page, lang, 'success-heading', { platform: books.name });
  const successUrl = page.url();
  // The personal link back to the manage page, which outlives this browser session.
  const personalLink = await page.locator('section.personal-link a.personal-link-url').getAttribute('href');
  await expect(page.locator('main p.uses-scope')).toHaveText(t(lang, 'uses-read-only', { tenant: 'Northwind Lending', platform: books.name }));

  await look('receipt', () => page.locator('main a[href^="/link/receipts/"]').click());
  await expectHeading(page, lang, 'receipt-title');
  await expect(page.locator('section.personal-link a.personal-link-url')).toHaveCount(1);
  await page.goto(successUrl);

  await look('support', () => page.locator(sel.supportLink).click());
  await expectHeading(page, lang, 'support-title');
  await look('support-errors', () => page.locator('main form.support-form button[type=submit]').click());
  await expect(page.locator('.error-summary')).toBeVisible();
  await page.locator('#message').fill(lang === 'fr' ? 'Je voudrais savoir qui voit mes factures.' : 'I would like to know who sees my invoices.');
  await page.locator('#reply_to').fill('owner@bluebell.example');
  await look('support-done', () => page.locator('main form.support-form button[type=submit]').click());
  await expectHeading(page, lang, 'support-done-title');

  await page.goto(successUrl);
  await look('finished', () => page.locator(sel.done).click());
  await expectHeading(page, lang, 'finished-title');

  // The personal link: one button (a mail scanner fetching it spends nothing), then the manage
  // page with a fresh link.
  await look('manage-return', () => page.goto(personalLink));
  await expectHeading(page, lang, 'manage-return-title');
  await look('manage', () => page.locator('main form[method=get] button[type=submit]').click());
  await expectHeading(page, lang, 'manage-title');
  await expect(page.locator('main [role=status]')).toHaveText(t(lang, 'manage-link-rotated'));
  await expect(page.locator('section.personal-link a.personal-link-url')).not.toHaveAttribute('href', personalLink);
  await look('manage-confirm', () => page.locator(sel.disconnect('sandbox')).click());
  await expectHeading(page, lang, 'manage-confirm-title', { platform: books.name });
  await look('manage-disconnected', () => page.locator(sel.confirmDisconnect).click());
  await expect(page.locator('main [role=status]').first()).toHaveText(t(lang, 'manage-disconnected', { platform: books.name, tenant: 'Northwind Lending' }));

  await look('guide', () => page.locator(sel.guideLink).click());
  await expectHeading(page, lang, 'guide-title');
  await look('privacy', () => page.goto(`${BASE_URL}/privacy`));
  await expectHeading(page, lang, 'privacy-title');
  // Finishing ended the flow's session and freed the link: it opens the flow again.
  await page.goto(link);
  await page.waitForLoadState('networkidle');
  await look('not-found', () => page.goto(`${BASE_URL}/link/platforms/no-such-platform/consent`));
  await expectHeading(page, lang, 'error-not-found-title');

  // Without the session cookie: the used link, and a flow page.
  await context.clearCookies();
  await look('link-used', () => page.goto(`${link}?lang=${lang}`));
  await expectHeading(page, lang, 'error-link-title');
  await context.clearCookies();
  await look('session-expired', () => page.goto(`${BASE_URL}/link/platforms?lang=${lang}`));
  await expectHeading(page, lang, 'error-session-title');
}
