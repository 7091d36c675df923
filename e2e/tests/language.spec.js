// The language switch keeps the customer's place: on every page reached by a
// link, switching shows the same page (same path and query) in the other language, and the
// choice sticks for the next pages.
import { test, expect } from '../lib/fixtures.js';
import { newCustomer } from '../lib/api.js';
import { BASE_URL } from '../lib/env.js';
import { connect, expectHeading, PLATFORMS, sel } from '../lib/flow.js';
import { t } from '../lib/i18n.js';
import { tour } from '../lib/tour.js';

const books = { platform: PLATFORMS.sandbox.name };
/** The heading of each state reached by a GET, as [message id, arguments]. */
const HEADINGS = {
  landing: ['landing-heading', { tenant: 'Northwind Lending' }],
  select: ['select-heading'],
  'select-search': ['select-heading'],
  consent: ['consent-title', books],
  success: ['success-heading', books],
  receipt: ['receipt-title'],
  support: ['support-title'],
  finished: ['finished-title'],
  'manage-return': ['manage-return-title'],
  manage: ['manage-title'],
  'manage-confirm': ['manage-confirm-title', books],
  'manage-disconnected': ['manage-title'],
  guide: ['guide-title'],
  privacy: ['privacy-title'],
  'not-found': ['error-not-found-title'],
  'link-used': ['error-link-title'],
  'session-expired': ['error-session-title'],
};

const placeOf = (url) => {
  const u = new URL(url);
  u.searchParams.delete('lang');
  return u.pathname + (u.searchParams.size ? `?${u.searchParams}` : '');
};

test('the language switch keeps the place on every page reached by a link, and the choice sticks', async ({ page, api }) => {
  const switched = [];
  await tour(page, {
    api,
    lang: 'en',
    onState: async (state) => {
      const heading = HEADINGS[state];
      if (!heading) return; // pages that answer a form post: see the next test
      const before = placeOf(page.url());
      await page.locator(sel.langLink('fr')).click();
      await expect(page).toHaveURL(/[?&]lang=fr/);
      expect(placeOf(page.url()), `${state}: same place after switching to French`).toBe(before);
      await expectHeading(page, 'fr', heading[0], heading[1]);
      await expect(page.locator('nav.lang [aria-current=page]')).toHaveAttribute('lang', 'fr');
      await page.locator(sel.langLink('en')).click();
      expect(placeOf(page.url()), `${state}: same place after switching back`).toBe(before);
      await expectHeading(page, 'en', heading[0], heading[1]);
      switched.push(state);
    },
  });
  expect(switched).toEqual(Object.keys(HEADINGS));
});

test('the choice of language sticks for the rest of the flow, and for the consent recorded', async ({ page, api }) => {
  const { company, link } = await newCustomer(api); // the tenant chose no language
  await page.goto(link);
  await expectHeading(page, 'en', 'landing-heading', { tenant: 'Northwind Lending' });
  await page.locator(sel.langLink('fr')).click();
  await expectHeading(page, 'fr', 'landing-heading', { tenant: 'Northwind Lending' });
  const id = await connect(page, { lang: 'fr' });
  const consent = (await api.consents(company.id)).find((c) => c.connection_id === id);
  expect(consent.locale).toBe('fr');
  // The French notice text is what was recorded as agreed.
  expect(consent.notice_text).toContain(t('fr', 'notice-purpose'));
});

test('the language switch on pages that answer a form post keeps the place', async ({ page, api }) => {
  const { link } = await newCustomer(api);
  await page.goto(link);
  const results = [];
  // Consent with its error.
  await page.goto(`${BASE_URL}/link/platforms/sandbox/consent`);
  await page.locator(sel.connect).click();
  await page.locator(sel.langLink('fr')).click();
  results.push(['consent error', placeOf(page.url()), ['/link/platforms/sandbox/consent']]);
  // Declined.
  await page.goto(`${BASE_URL}/link/platforms/sandbox/consent?lang=en`);
  await page.locator(sel.decline).click();
  await page.locator(sel.langLink('fr')).click();
  results.push(['declined', placeOf(page.url()), ['/link/platforms/sandbox/consent', '/link/platforms']]);
  // Support form with errors.
  await page.goto(`${BASE_URL}/link/support?step=select&lang=en`);
  await page.locator('main form.support-form button[type=submit]').click();
  await page.locator(sel.langLink('fr')).click();
  results.push(['support form with errors', placeOf(page.url()).replace(/\?.*/, ''), ['/link/support']]);
  for (const [what, got, want] of results) expect.soft(want, what).toContain(got);
});
