// The hosted flow as a customer goes through it, with the mouse or with the keyboard only.
// Selectors are the product's structure (hrefs, form actions, button values), so the same
// helpers serve both languages; the text is checked against the locale files.
import { expect } from '@playwright/test';
import { tabTo } from './focus.js';
import { t } from './i18n.js';

export const PLATFORMS = {
  sandbox: { key: 'sandbox', name: 'Accord Sandbox Books', category: 'accounting' },
  'sandbox-bank': { key: 'sandbox-bank', name: 'Accord Sandbox Bank', category: 'banking' },
  'sandbox-shop': { key: 'sandbox-shop', name: 'Accord Sandbox Shop', category: 'commerce' },
};

export const sel = {
  start: 'main a.button.primary[href="/link/platforms"]',
  tile: (key) => `main a.platform[href="/link/platforms/${key}/consent"]`,
  search: 'main form[role=search] input[name=q]',
  agree: '#agree',
  connect: 'main button[name=action][value=connect]',
  decline: 'main button[name=action][value=decline]',
  organisation: '#organisation',
  approve: 'button[name=decision][value=approve]',
  deny: 'button[name=decision][value=deny]',
  retry: 'main form[action$="/retry"] button[type=submit]',
  addAnother: 'main .actions a[href="/link/platforms"]',
  toManage: 'main form[action="/link/manage"] button[type=submit]',
  done: 'main a[href="/link/finish"]',
  disconnect: (key) => `main article.connection:has(img[src="/assets/marks/${key}.svg"]) a.button.danger`,
  confirmDisconnect: 'main form[action$="/disconnect"] button.danger',
  supportLink: 'footer.help a[href^="/link/support"], footer.help a[href^="/manage/support"]',
  guideLink: 'footer.help a[href="/guide"]',
  langLink: (lang) => `nav.lang a[hreflang="${lang}"]`,
  h1: 'main h1',
};

/** How the customer acts: `mouse` clicks; `keyboard` uses Tab, Space and Enter only. */
export function actor(page, input) {
  if (input === 'mouse') {
    return {
      activate: (selector) => page.locator(selector).click(),
      tick: (selector) => page.locator(selector).check(),
      type: (selector, text) => page.locator(selector).fill(text),
    };
  }
  return {
    async activate(selector) {
      const target = page.locator(selector);
      await tabTo(page, target);
      const tag = await target.evaluate((el) => el.tagName);
      // Every control activated in the flow loads a page: wait for it like a click does.
      const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame(), timeout: 10_000 });
      // Links follow with Enter; buttons are pressed with Space.
      await page.keyboard.press(tag === 'BUTTON' ? 'Space' : 'Enter');
      await navigated;
      await page.waitForLoadState();
    },
    async tick(selector) {
      const target = page.locator(selector);
      await tabTo(page, target);
      await page.keyboard.press('Space');
      await expect(target).toBeChecked();
    },
    async type(selector, text) {
      const target = page.locator(selector);
      await tabTo(page, target);
      await page.keyboard.press('ControlOrMeta+a');
      await page.keyboard.type(text);
    },
  };
}

export async function expectHeading(page, lang, id, args) {
  await expect(page.locator(sel.h1)).toHaveText(t(lang, id, args));
  await expect(page.locator('html')).toHaveAttribute('lang', lang);
}

/** From the link URL to the landing page. */
export async function openLink(page, url, lang, tenant = 'Northwind Lending') {
  await page.goto(url);
  await expect(page).toHaveURL(/\/link\/start/);
  await expectHeading(page, lang, 'landing-heading', { tenant });
}

/**
 * From the landing page (or the selection page) to the success page of `key`: choose, read,
 * tick, connect, sign in at the sandbox, come back.
 */
export async function connect(page, { key = 'sandbox', lang = 'en', input = 'mouse', org = 'Bluebell Bakery', fromLanding = true } = {}) {
  const a = actor(page, input);
  const p = PLATFORMS[key];
  if (fromLanding) await a.activate(sel.start);
  await expect(page).toHaveURL(/\/link\/platforms$/);
  await expectHeading(page, lang, 'select-heading');
  await a.activate(sel.tile(key));
  await expectHeading(page, lang, 'consent-title', { platform: p.name });
  // Consent is never pre-ticked.
  await expect(page.locator(sel.agree)).not.toBeChecked();
  await a.tick(sel.agree);
  await a.activate(sel.connect);
  await signInAtPlatform(page, { input, org, decision: 'approve' });
  await expectHeading(page, lang, 'success-heading', { platform: p.name });
  return page.url().split('/').pop();
}

/** On the sandbox's sign-in page: an organisation name, then Approve or Deny. */
export async function signInAtPlatform(page, { input = 'mouse', org = 'Bluebell Bakery', decision = 'approve' } = {}) {
  await expect(page).toHaveURL(/\/sandbox\/oauth\/authorize/);
  const a = actor(page, input);
  if (decision === 'approve') await a.type(sel.organisation, org);
  await a.activate(decision === 'approve' ? sel.approve : sel.deny);
  await expect(page).not.toHaveURL(/\/sandbox\//);
}
