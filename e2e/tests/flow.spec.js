// The hosted flow as customers go through it: complete flows in English and
// French with the mouse and with the keyboard only, without JavaScript, on a phone, in the dark
// theme; several connections in one session; decline; a platform error then Try again;
// disconnect from the manage page and what proves the connection is dead.
// (Support requests from every step: support.spec.js. The language switch: language.spec.js.)
import fs from 'node:fs';
import { test, expect } from '../lib/fixtures.js';
import { newCustomer } from '../lib/api.js';
import { BASE_URL, LANGS, LOG_FILE } from '../lib/env.js';
import { actor, connect, expectHeading, openLink, PLATFORMS, sel, signInAtPlatform } from '../lib/flow.js';
import { tabTo } from '../lib/focus.js';
import { t } from '../lib/i18n.js';

/** What the API says after a complete flow: linked, with a consent in the customer's language. */
async function expectLinked(api, company, connectionId, lang) {
  const conn = await api.connection(company.id, connectionId);
  expect(conn.status).toBe('linked');
  const consents = await api.consents(company.id);
  const consent = consents.find((c) => c.connection_id === connectionId);
  expect(consent, 'a consent for the connection').toBeTruthy();
  expect(consent.locale).toBe(lang);
  expect(consent.evidence.checkbox_ticked).toBe(true);
  expect(consent.withdrawn_at).toBeNull();
  return { conn, consent };
}

for (const lang of LANGS) {
  test.describe(`complete flow in ${lang}`, () => {
    for (const input of ['mouse', 'keyboard']) {
      test(`with the ${input}${input === 'keyboard' ? ' only (Tab, Space, Enter; visible focus at every stop)' : ''} (${lang})`, async ({ page, api }) => {
        const { company, link } = await newCustomer(api, { locale: lang });
        await openLink(page, link, lang);
        const id = await connect(page, { lang, input });
        await expectLinked(api, company, id, lang);
        // On to the end with the same input.
        await actor(page, input).activate(sel.done);
        await expectHeading(page, lang, 'finished-title');
        await expect(page.locator('main li')).toHaveText([PLATFORMS.sandbox.name]);
      });
    }

    test.describe('without JavaScript', () => {
      test.use({ javaScriptEnabled: false });
      test(`complete flow, support request and disconnect with JavaScript disabled (${lang})`, async ({ page, api }) => {
        const { company, link } = await newCustomer(api, { locale: lang });
        await openLink(page, link, lang);
        // The search works as a plain form (with JavaScript, typing alone would filter the list).
        await page.locator(sel.start).click();
        await page.locator(sel.search).fill('bank');
        await expect(page.locator('main a.platform')).toHaveCount(3);
        await expect(page.locator('main a.platform').first()).toBeVisible();
        await page.locator(sel.search).press('Enter');
        await expect(page).toHaveURL(/\?q=bank$/);
        await expect(page.locator('main a.platform')).toHaveCount(1);
        await page.goto(`${BASE_URL}/link/platforms`);
        const id = await connect(page, { lang, fromLanding: false });
        await expectLinked(api, company, id, lang);
        await page.locator(sel.supportLink).click();
        await page.locator('#message').fill('Test');
        await page.locator('main form.support-form button[type=submit]').click();
        await expect(page.locator('.error-summary')).toBeVisible();
        await page.locator('#reply_to').fill('owner@bluebell.example');
        await page.locator('main form.support-form button[type=submit]').click();
        await expectHeading(page, lang, 'support-done-title');
        await page.goto(`${BASE_URL}/link/connections/${id}`);
        await page.locator(sel.toManage).click();
        await page.locator(sel.disconnect('sandbox')).click();
        await page.locator(sel.confirmDisconnect).click();
        await expect(page.locator('main [role=status]')).toHaveText(t(lang, 'manage-disconnected', { platform: PLATFORMS.sandbox.name, tenant: 'Northwind Lending' }));
        expect((await api.connection(company.id, id)).status).toBe('disconnected');
      });
    });

    test.describe('on a 375 px phone', () => {
      test.use({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
      test(`complete flow fits the screen: no sideways scrolling, targets at least 24 px (${lang})`, async ({ page, api }) => {
        const { company, link } = await newCustomer(api, { locale: lang });
        const checkFit = async () => {
          const m = await page.evaluate(() => ({
            url: location.pathname,
            scrollWidth: document.documentElement.scrollWidth,
            small: [...document.querySelectorAll('main a, main button, main input:not([type=hidden]), main select, main textarea, footer a')]
              .filter((el) => el.offsetParent !== null && !el.closest('.hp'))
              .map((el) => ({ el: el.outerHTML.slice(0, 60), h: el.getBoundingClientRect().height, inline: getComputedStyle(el).display === 'inline' }))
              .filter((x) => !x.inline && x.h < 24),
          }));
          expect(m.scrollWidth, `no horizontal scrolling on ${m.url}`).toBeLessThanOrEqual(375);
          expect(m.small, `targets under 24 px on ${m.url}`).toEqual([]);
        };
        const tapTo = async (selector, url) => {
          await page.locator(selector).tap();
          await page.waitForURL(url);
          await page.waitForLoadState();
        };
        await openLink(page, link, lang);
        await checkFit();
        await tapTo(sel.start, /\/link\/platforms$/);
        await checkFit();
        await tapTo(sel.tile('sandbox'), /\/consent$/);
        await checkFit();
        await page.locator(sel.agree).tap();
        await expect(page.locator(sel.agree)).toBeChecked();
        await tapTo(sel.connect, /\/sandbox\/oauth\/authorize/);
        await page.locator(sel.organisation).fill('Bluebell Bakery');
        await tapTo(sel.approve, /\/link\/connections\//);
        await expectHeading(page, lang, 'success-heading', { platform: PLATFORMS.sandbox.name });
        await checkFit();
        await tapTo(sel.toManage, /\/manage$/);
        await checkFit();
        const [c] = await api.connections(company.id);
        await expectLinked(api, company, c.id, lang);
      });
    });

    test.describe('in the dark theme', () => {
      test.use({ colorScheme: 'dark' });
      test(`complete flow in the dark theme (${lang})`, async ({ page, api }) => {
        const { company, link } = await newCustomer(api, { locale: lang });
        const dark = async () => {
          const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
          const [r, g, b] = bg.match(/\d+/g).map(Number);
          expect(0.2126 * r + 0.7152 * g + 0.0722 * b, `dark background on ${page.url()} (${bg})`).toBeLessThan(60);
        };
        await openLink(page, link, lang);
        await dark();
        const id = await connect(page, { lang });
        await dark();
        await expectLinked(api, company, id, lang);
      });
    });
  });
}

test('keyboard only, the other paths: skip link, decline, platform error and Try again, support form, manage and disconnect', async ({ page, api }) => {
  const lang = 'en';
  const kb = actor(page, 'keyboard');
  const { company, link } = await newCustomer(api);
  await openLink(page, link, lang);
  // The first Tab stop is the skip link; it moves focus to the content.
  await page.keyboard.press('Tab');
  await expect(page.locator('a.skip')).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('main#main')).toBeFocused();
  await kb.activate(sel.start);
  await kb.activate(sel.tile('sandbox'));
  await kb.activate(sel.decline);
  await expectHeading(page, lang, 'declined-title');
  await kb.activate('main a[href="/link/platforms"]');
  await kb.activate(sel.tile('sandbox'));
  await kb.tick(sel.agree);
  await kb.activate(sel.connect);
  await signInAtPlatform(page, { input: 'keyboard', decision: 'deny' });
  await expectHeading(page, lang, 'callback-error-heading', { platform: PLATFORMS.sandbox.name });
  await kb.activate(sel.retry);
  await signInAtPlatform(page, { input: 'keyboard', decision: 'approve' });
  await expectHeading(page, lang, 'success-heading', { platform: PLATFORMS.sandbox.name });
  // The support form: a topic chosen with the arrow keys, a message, an address.
  await kb.activate(sel.supportLink);
  await expectHeading(page, lang, 'support-title');
  await tabTo(page, page.locator('#topic'));
  await page.keyboard.press('ArrowUp');
  await expect(page.locator('#topic')).not.toHaveValue('other');
  await kb.type('#message', 'Sent with the keyboard only.');
  await kb.type('#reply_to', 'owner@bluebell.example');
  await kb.activate('main form.support-form button[type=submit]');
  await expectHeading(page, lang, 'support-done-title');
  // Manage and disconnect.
  const [conn] = (await api.connections(company.id)).filter((c) => c.status === 'linked');
  await page.goto(`${BASE_URL}/link/connections/${conn.id}`);
  await kb.activate(sel.toManage);
  await expectHeading(page, lang, 'manage-title');
  await kb.activate(sel.disconnect('sandbox'));
  await kb.activate(sel.confirmDisconnect);
  await expect(page.locator('main [role=status]')).toHaveText(t(lang, 'manage-disconnected', { platform: PLATFORMS.sandbox.name, tenant: 'Northwind Lending' }));
  expect((await api.connection(company.id, conn.id)).status).toBe('disconnected');
});

test('several connections in one session', async ({ page, api }) => {
  const lang = 'en';
  const { company, link } = await newCustomer(api);
  await openLink(page, link, lang);
  const ids = [];
  const keys = ['sandbox', 'sandbox-bank', 'sandbox-shop'];
  for (const [i, key] of keys.entries()) {
    if (i > 0) {
      await page.locator(sel.addAnother).click();
      await expect(page.locator('main [role=status]').first()).toHaveText(
        i === 1 ? 'You have connected 1 platform in this session. You can add another.' : `You have connected ${i} platforms in this session. You can add another.`,
      );
      for (const done of keys.slice(0, i)) {
        await expect(page.locator(`${sel.tile(done)} .connected`)).toHaveText(t(lang, 'select-connected'));
      }
    }
    ids.push(await connect(page, { key, lang, fromLanding: i === 0, org: `Bluebell ${key}` }));
  }
  await page.locator(sel.done).click();
  await expectHeading(page, lang, 'finished-title');
  await expect(page.locator('main li')).toHaveText(keys.map((k) => PLATFORMS[k].name));
  const conns = await api.connections(company.id);
  expect(conns.map((c) => [c.platform_key, c.status]).sort()).toEqual(keys.map((k) => [k, 'linked']));
  expect((await api.consents(company.id)).length).toBe(3);
  // The manage page lists the three (finishing ended the session; the link opens it again).
  await page.goto(link);
  await page.goto(`${BASE_URL}/link/connections/${ids[2]}`);
  await page.locator(sel.toManage).click();
  await expect(page.locator('main article.connection')).toHaveCount(3);
});

test('decline: nothing is shared, nothing is recorded but the choice, and the customer can go on', async ({ page, api }) => {
  const lang = 'en';
  const { company, link } = await newCustomer(api);
  await openLink(page, link, lang);
  await page.locator(sel.start).click();
  await page.locator(sel.tile('sandbox')).click();
  await page.locator(sel.decline).click();
  await expectHeading(page, lang, 'declined-title');
  await expect(page.locator('main p').first()).toHaveText(t(lang, 'declined-body', { platform: PLATFORMS.sandbox.name }));
  expect(await api.connections(company.id)).toEqual([]);
  expect(await api.consents(company.id)).toEqual([]);
  await page.locator('main a[href="/link/platforms"]').click();
  await expectHeading(page, lang, 'select-heading');
  await connect(page, { key: 'sandbox-bank', lang, fromLanding: false });
});

test('platform error: Deny at the platform, a clear page, then Try again connects', async ({ page, api }) => {
  const lang = 'en';
  const { company, link } = await newCustomer(api);
  await openLink(page, link, lang);
  await page.locator(sel.start).click();
  await page.locator(sel.tile('sandbox')).click();
  await page.locator(sel.agree).check();
  await page.locator(sel.connect).click();
  await signInAtPlatform(page, { decision: 'deny' });
  await expectHeading(page, lang, 'callback-error-heading', { platform: PLATFORMS.sandbox.name });
  await expect(page.locator('main p').first()).toHaveText(t(lang, 'callback-error-denied', { platform: PLATFORMS.sandbox.name }));
  await expect(page.locator('main')).toContainText(t(lang, 'callback-error-code', { code: 'access_denied' }));
  const [pending] = await api.connections(company.id);
  expect(pending.status).toBe('pending_auth');
  expect(pending.last_error).toBe('access_denied');
  const callbackUrl = page.url();
  // Try again: back to the platform, approve this time.
  await page.locator(sel.retry).click();
  await signInAtPlatform(page, { decision: 'approve' });
  await expectHeading(page, lang, 'success-heading', { platform: PLATFORMS.sandbox.name });
  // The old callback replayed (its `state` is spent) is refused and changes nothing.
  await page.goto(callbackUrl);
  await expectHeading(page, lang, 'error-state-title');
  const conns = await api.connections(company.id);
  expect(conns.filter((c) => c.status === 'linked').map((c) => c.platform_key)).toEqual(['sandbox']);
});

/** Lines of the server's JSON log (run.sh starts the server with ACCORD_LOG__FORMAT=json). */
function logEvents() {
  if (!LOG_FILE) return [];
  return fs.readFileSync(LOG_FILE, 'utf8').split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean);
}

async function connectThenDisconnect(page, api) {
  const lang = 'en';
  const { company, link } = await newCustomer(api);
  await openLink(page, link, lang);
  const id = await connect(page, { lang });
  await page.locator(sel.toManage).click();
  await expectHeading(page, lang, 'manage-title');
  await page.locator(sel.disconnect('sandbox')).click();
  await expectHeading(page, lang, 'manage-confirm-title', { platform: PLATFORMS.sandbox.name });
  // One click plus one confirmation; "No, keep it" changes nothing.
  await page.locator('main .actions a[href="/manage"]').click();
  expect((await api.connection(company.id, id)).status).toBe('linked');
  await page.locator(sel.disconnect('sandbox')).click();
  await page.locator(sel.confirmDisconnect).click();
  await expect(page).toHaveURL(/\/manage\?disconnected=sandbox$/);
  await expect(page.locator('main [role=status]')).toHaveText(t(lang, 'manage-disconnected', { platform: PLATFORMS.sandbox.name, tenant: 'Northwind Lending' }));
  return { company, id, lang };
}

test('disconnect from the manage page: dead at once, and a new link connects again', async ({ page, api }) => {
  const { company, id, lang } = await connectThenDisconnect(page, api);
  // Effective at once, in the answer to the click.
  const conn = await api.connection(company.id, id);
  expect(conn.status).toBe('disconnected');
  expect(conn.disconnected_at).not.toBeNull();
  const consent = (await api.consents(company.id)).find((c) => c.connection_id === id);
  expect(consent.withdrawn_at).not.toBeNull();
  // The manage page shows it disconnected, with nothing left to disconnect.
  await expect(page.locator('main article.connection .status')).toHaveText(t(lang, 'status-disconnected'));
  await expect(page.locator(sel.disconnect('sandbox'))).toHaveCount(0);
  // The old success page no longer presents it as connected.
  await page.goto(`${BASE_URL}/link/connections/${id}`);
  await expect(page).toHaveURL(/\/link\/platforms\/sandbox\/consent$/);
  // A new link for the same company connects the platform again, with a new consent.
  const fresh = await api.linkUrl(company.id);
  await page.context().clearCookies();
  await openLink(page, fresh, lang);
  const again = await connect(page, { lang });
  expect((await api.connection(company.id, again)).status).toBe('linked');
  expect((await api.consents(company.id)).filter((c) => c.withdrawn_at === null).length).toBe(1);
});

test('disconnect: the token is revoked at the platform (RFC 7009, by the worker)', async ({ page, api }) => {
  // The browser never sees the platform's tokens, so the proof is the worker's record that the
  // sandbox accepted the revocation of this connection's token (run.sh keeps the JSON log).
  const { id } = await connectThenDisconnect(page, api);
  const revoked = () => logEvents().some((e) => e.fields?.message === 'token revoked at the platform' && e.fields?.connection === id);
  await expect
    .poll(revoked, {
      timeout: 10_000,
      message: `worker log: the token of ${id} revoked at the platform (revocation failures: ${JSON.stringify(
        logEvents().filter((e) => e.fields?.kind === 'revoke_token').map((e) => e.fields.reason).slice(-2),
      )})`,
    })
    .toBe(true);
});

// The way out that does not expire: the personal link from the success page, used in another
// browser a session later, opens the manage page (one button, so fetching it spends nothing)
// and disconnects — with the keyboard only, and with JavaScript off.
for (const mode of ['keyboard', 'no-js']) {
  test.describe(`the personal link (${mode})`, () => {
    if (mode === 'no-js') test.use({ javaScriptEnabled: false });
    test(`the personal link from the success page disconnects from another browser (${mode})`, async ({ page, api, browser }) => {
      const lang = 'en';
      const { company, link } = await newCustomer(api);
      await openLink(page, link, lang);
      const id = await connect(page, { lang });
      const personal = await page.locator('section.personal-link a.personal-link-url').getAttribute('href');
      expect(personal).toContain('/manage/return/');

      const other = await browser.newContext({ javaScriptEnabled: mode !== 'no-js' });
      const p = await other.newPage();
      await p.goto(personal);
      await expectHeading(p, lang, 'manage-return-title');
      const kb = actor(p, mode === 'keyboard' ? 'keyboard' : 'mouse');
      await kb.activate('main form[method=get] button[type=submit]');
      await expectHeading(p, lang, 'manage-title');
      await expect(p.locator('main [role=status]')).toHaveText(t(lang, 'manage-link-rotated'));
      await kb.activate(sel.disconnect('sandbox'));
      await kb.activate(sel.confirmDisconnect);
      await expect(p.locator('main [role=status]').first()).toHaveText(t(lang, 'manage-disconnected', { platform: PLATFORMS.sandbox.name, tenant: 'Northwind Lending' }));
      expect((await api.connection(company.id, id)).status).toBe('disconnected');
      const consent = (await api.consents(company.id)).find((c) => c.connection_id === id);
      expect(consent.withdrawn_at, 'recorded like any other withdrawal').not.toBeNull();
      // Spent, and nothing is in force any more: the link opens nothing.
      const again = await (await browser.newContext()).newPage();
      await again.goto(personal);
      await expectHeading(again, lang, 'error-link-title');
      await other.close();
    });
  });
}
