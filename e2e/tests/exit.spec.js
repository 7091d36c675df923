// Leaving mid-flow (link settings: the Exit control): with JavaScript the Exit control opens an
// accessible dialog that asks once (focus inside, Escape cancels, "Go back" returns focus);
// without JavaScript it opens the confirm page. Either way, "Yes, exit" ends on the finish
// page through `/link/finish?exited=<step>`.
import { test, expect } from '../lib/fixtures.js';
import { newCustomer } from '../lib/api.js';
import { runAxe } from '../lib/axe.js';
import { openLink } from '../lib/flow.js';
import { t } from '../lib/i18n.js';

test('with JavaScript: a modal dialog asks once, Escape and Go back cancel', async ({ page, api }) => {
  const { link } = await newCustomer(api, { locale: 'en' });
  await openLink(page, link, 'en');
  await page.goto(page.url().replace(/\/link\/start.*/, '/link/platforms/sandbox/consent'));
  const exit = page.locator('a.exit');
  const dialog = page.locator('dialog#exit-dialog');
  await expect(dialog).toBeHidden();

  await exit.click();
  await expect(dialog).toBeVisible();
  await expect(page).toHaveURL(/\/consent$/);
  // Focus starts on the safe choice, inside the dialog.
  await expect(dialog.locator('[data-exit-cancel]')).toBeFocused();
  expect((await runAxe(page)).violations).toEqual([]);
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(exit).toBeFocused();

  await exit.click();
  await dialog.locator('[data-exit-cancel]').click();
  await expect(dialog).toBeHidden();
  await expect(page).toHaveURL(/\/consent$/);

  // Focus stays in the dialog while it is open.
  await exit.click();
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => !!document.activeElement.closest('dialog#exit-dialog')
      || document.activeElement === document.body)).toBe(true);
  }
  await dialog.getByRole('button', { name: t('en', 'exit-confirm') }).click();
  await expect(page).toHaveURL(/\/link\/finish\?exited=consent&platform=sandbox$/);
  await expect(page.locator('h1')).toHaveText(t('en', 'finished-exited-title'));
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });
  test('the Exit link opens a confirm page; Go back and Yes, exit work', async ({ page, api }) => {
    const { link } = await newCustomer(api, { locale: 'fr' });
    await openLink(page, link, 'fr');
    await page.locator('a.exit').click();
    await expect(page).toHaveURL(/\/link\/exit\?from=landing$/);
    await expect(page.locator('h1')).toHaveText(t('fr', 'exit-title'));
    await page.getByRole('link', { name: t('fr', 'exit-stay') }).click();
    await expect(page).toHaveURL(/\/link\/start$/);
    await page.locator('a.exit').click();
    await page.getByRole('button', { name: t('fr', 'exit-confirm') }).click();
    await expect(page).toHaveURL(/\/link\/finish\?exited=landing$/);
    await expect(page.locator('h1')).toHaveText(t('fr', 'finished-exited-title'));
  });
});
