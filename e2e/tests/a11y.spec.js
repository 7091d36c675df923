// Accessibility: axe-core with the WCAG 2.0/2.1/2.2 A and AA rules reports
// zero violations on every page and state, in both languages and both themes; form errors are
// announced. (Keyboard-only completion with visible focus: flow.spec.js.)
import { test, expect } from '../lib/fixtures.js';
import { newCustomer } from '../lib/api.js';
import { runAxe } from '../lib/axe.js';
import { LANGS } from '../lib/env.js';
import { sel } from '../lib/flow.js';
import { t } from '../lib/i18n.js';
import { STATES, tour } from '../lib/tour.js';

for (const lang of LANGS) {
  for (const theme of ['light', 'dark']) {
    test.describe(`${lang}, ${theme} theme`, () => {
      test.use({ colorScheme: theme });
      test(`axe: zero violations on every page and state (${lang}, ${theme})`, async ({ page, api }) => {
        const seen = [];
        await tour(page, {
          api,
          lang,
          onState: async (name) => {
            const r = await runAxe(page);
            seen.push({ state: name, violations: r.violations, passes: r.passes, incomplete: r.incomplete });
          },
        });
        expect(seen.map((s) => s.state)).toEqual(STATES);
        console.log(`axe ${lang}/${theme}: ` + seen.map((s) => `${s.state} ${s.violations.length}✗/${s.passes}✓${s.incomplete.length ? ` (needs review: ${s.incomplete.join(',')})` : ''}`).join('; '));
        const found = seen.filter((s) => s.violations.length);
        expect(found, JSON.stringify(found, null, 2)).toEqual([]);
      });
    });
  }
}

test.describe('form errors are announced', () => {
  for (const lang of LANGS) {
    test(`consent without the tick: the error is tied to the checkbox and live (${lang})`, async ({ page, api }) => {
      const { link } = await newCustomer(api, { locale: lang });
      await page.goto(link);
      await page.goto(page.url().replace(/\/link\/start.*/, '/link/platforms/sandbox/consent'));
      const agree = page.locator(sel.agree);
      await expect(agree).not.toHaveAttribute('aria-invalid', /.*/);
      // The live region exists before the error, so the message is announced when it appears.
      await expect(page.locator('#agree-error')).toHaveAttribute('aria-live', /polite|assertive/);
      await page.locator(sel.connect).click();
      await expect(agree).toHaveAttribute('aria-invalid', 'true');
      const describedBy = await agree.getAttribute('aria-describedby');
      expect(describedBy).toContain('agree-error');
      await expect(page.locator('#agree-error')).toHaveText(t(lang, 'consent-error-unticked'));
      await expect(page.locator('#agree-error')).toHaveAttribute('aria-live', /polite|assertive/);
      // The enhancement script moves focus to the field in error.
      await expect(agree).toBeFocused();
      await expect(page).toHaveTitle(new RegExp(`^${t(lang, 'form-error-title-prefix')}`));
    });

    test(`support form: summary alert, focus, and each field points at its message (${lang})`, async ({ page, api }) => {
      const { link } = await newCustomer(api, { locale: lang });
      await page.goto(link);
      await page.locator(sel.supportLink).click();
      await page.locator('#message').fill('');
      await page.locator('#reply_to').fill('not an address');
      await page.locator('main form.support-form button[type=submit]').click();
      const summary = page.locator('.error-summary');
      await expect(summary).toHaveAttribute('role', 'alert');
      await expect(summary).toBeFocused();
      await expect(page).toHaveTitle(new RegExp(`^${t(lang, 'form-error-title-prefix')}`));
      for (const [field, msg] of [['message', 'support-error-message'], ['reply_to', 'support-error-reply']]) {
        const input = page.locator(`#${field}`);
        await expect(input).toHaveAttribute('aria-invalid', 'true');
        const ids = (await input.getAttribute('aria-describedby')).split(/\s+/);
        const texts = await Promise.all(ids.map((id) => page.locator(`[id="${id}"]`).textContent()));
        expect(texts.join(' ')).toContain(t(lang, msg));
        await expect(summary.locator(`a[href="#${field}"]`)).toHaveText(t(lang, msg));
      }
      // A field without an error is not marked invalid.
      await expect(page.locator('#topic')).not.toHaveAttribute('aria-invalid', /.*/);
    });
  }
});
