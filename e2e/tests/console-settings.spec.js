// The console's link-settings editor in the browser, on a private `accord demo` with a tenant
// made by `accord tenant create --owner-email`: with JavaScript off, a field is saved, a
// guardrail refusal is shown at its field (nothing saved), and the draft is previewed step by
// step in its sandboxed frame at a phone's width; axe (WCAG 2.x A and AA) finds nothing on the
// editor and the preview page in English and French, light and dark; screenshots of the
// editor and the preview land in docs/screenshots/. The security guard (headers, CSP
// violations, third-party requests) watches every page.
import path from 'node:path';
import { test, expect } from '@playwright/test';
import { runAxe } from '../lib/axe.js';
import { createTenant, setPassword, signedIn as signInAs } from '../lib/console.js';
import { LANGS, SCREENSHOT_DIR } from '../lib/env.js';
import { startPrivateDemo } from '../lib/server.js';

const OWNER = 'owner@settings.example';

test.describe.configure({ mode: 'serial' });

let demo;

test.beforeAll(async ({ browser }) => {
  demo = await startPrivateDemo();
  const { link } = createTenant(demo, 'Settings Lender', OWNER);
  const context = await browser.newContext();
  const page = await context.newPage();
  await setPassword(page, demo, link);
  await context.close();
});

test.afterAll(async () => {
  await demo?.stop();
});

/** A guarded context signed in as the owner. */
const signedIn = (browser, options) => signInAs(browser, demo, OWNER, options);

/** The input of a settings field (its id carries the document path, dots and all). */
const field = (page, p) => page.locator(`[id="f-${p}"]`);

test('without JavaScript: a field saved, a refusal at its field, every step previewed at phone width', async ({ browser }) => {
  const { context, guard, page } = await signedIn(browser, { javaScriptEnabled: false });
  await page.goto(`${demo.baseUrl}/console/settings?lang=en`);
  expect(await page.locator('script').count()).toBe(0);
  await field(page, 'landing.title.en').fill('Welcome to Acme lending');
  await field(page, 'landing.title.fr').fill('Bienvenue chez Acme');
  await page.locator('#fields-form button.primary').click();
  await expect(page).toHaveURL(/done=settings-saved/);
  await expect(field(page, 'landing.title.en')).toHaveValue('Welcome to Acme lending');

  // Decline reading the same as Connect is refused at Decline's field; nothing is saved.
  await field(page, 'button_labels.connect.en').fill('Continue');
  await field(page, 'button_labels.decline.en').fill('continue');
  await page.locator('#fields-form button.primary').click();
  const decline = field(page, 'button_labels.decline.en');
  await expect(decline).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('[id="e-button_labels.decline.en"]')).toContainText('guardrail');
  await expect(page.locator('#summary a[href="#f-button_labels.decline.en"]')).toBeVisible();
  await page.goto(`${demo.baseUrl}/console/settings`);
  await expect(field(page, 'button_labels.decline.en')).toHaveValue('');

  // The preview: the draft on each step, in French, at a phone's width, through links only.
  await field(page, 'exit_confirmation.fr').fill('Vous quittez déjà Acme ?');
  await page.locator('#fields-form select[name=locale]').selectOption('fr');
  await page.locator('#fields-form select[name=width]').selectOption('phone');
  await page.locator('#fields-form button[formaction="/console/settings/preview"]').click();
  await expect(page).toHaveURL(/\/console\/settings\/preview$/);
  const frame = page.locator('.preview-frame iframe');
  await expect(frame).toHaveAttribute('width', '390');
  await expect(frame).toHaveAttribute('sandbox', 'allow-same-origin');
  expect((await frame.boundingBox()).width).toBeGreaterThanOrEqual(390);
  await expect(page.frameLocator('.preview-frame iframe').locator('h1')).toContainText('Bienvenue chez Acme');
  await page.locator('.preview-steps a', { hasText: 'Exit question' }).click();
  await expect(page.frameLocator('.preview-frame iframe').locator('body')).toContainText('Vous quittez déjà Acme');
  await page.locator('.preview-steps a', { hasText: 'Consent' }).click();
  await expect(page.frameLocator('.preview-frame iframe').locator('form button').first()).toBeVisible();
  // Back to the editor with the draft: the previewed text is there, still unsaved.
  await page.locator('a', { hasText: 'Back to the editor' }).click();
  await expect(field(page, 'exit_confirmation.fr')).toHaveValue('Vous quittez déjà Acme ?');
  await page.goto(`${demo.baseUrl}/console/settings`);
  await expect(field(page, 'exit_confirmation.fr')).toHaveValue('');
  await guard.settle();
  expect(guard.problems).toEqual([]);
  await context.close();
});

for (const lang of LANGS) {
  for (const theme of ['light', 'dark']) {
    test(`axe: zero violations on the editor and the preview (${lang}, ${theme})`, async ({ browser }) => {
      const { context, guard, page } = await signedIn(browser, { colorScheme: theme });
      const found = [];
      for (const p of [
        `/console/settings?lang=${lang}`,
        `/console/settings/preview?lang=${lang}&locale=${lang}&theme=${theme}&step=consent`,
        `/console/settings/preview?lang=${lang}&locale=${lang}&theme=${theme}&step=platforms&width=phone`,
        `/console/notices/draft?lang=${lang}&category=banking&locale=${lang}`,
      ]) {
        const res = await page.goto(`${demo.baseUrl}${p}`);
        expect(res.status(), p).toBe(200);
        await expect(page.locator('html')).toHaveAttribute('lang', lang);
        const r = await runAxe(page);
        if (r.violations.length) found.push({ path: p, violations: r.violations });
      }
      // The frame's page itself (the flow's own template with the settings).
      await page.goto(`${demo.baseUrl}/console/settings/preview/frame?lang=${lang}&locale=${lang}&theme=${theme}&step=consent`);
      const r = await runAxe(page);
      if (r.violations.length) found.push({ path: 'frame', violations: r.violations });
      expect(found, JSON.stringify(found, null, 2)).toEqual([]);
      await guard.settle();
      expect(guard.problems).toEqual([]);
      await context.close();
    });
  }
}

test('screenshots of the settings editor and its preview', async ({ browser }) => {
  for (const [name, p, viewport] of [
    ['console-settings-desktop-en', '/console/settings?lang=en', { width: 1280, height: 900 }],
    ['console-settings-preview-desktop-fr', '/console/settings/preview?lang=fr&locale=fr&step=consent&width=phone', { width: 1280, height: 900 }],
  ]) {
    const { context, page } = await signedIn(browser, { viewport });
    await page.goto(`${demo.baseUrl}${p}`);
    await page.screenshot({
      path: path.join(SCREENSHOT_DIR, `${name}.png`),
      fullPage: true,
      animations: 'disabled',
      caret: 'hide',
    });
    await context.close();
  }
});
