// The tenant console's way in, for the console specs: a tenant made in a private demo's
// database by `accord tenant create --owner-email`, its owner choosing a password from the
// printed set-password link, and guarded contexts signed in through the sign-in form.
import { execFileSync } from 'node:child_process';
import { expect } from '@playwright/test';
import { guardContext } from './fixtures.js';
import { ACCORD_BIN } from './env.js';

/** The password every console owner of the suite chooses. */
export const PASSWORD = 'correct horse battery staple';

/**
 * Makes a tenant named `name` with a console owner `owner` in `demo`'s database, as an operator
 * would. Returns the path of the owner's set-password link and the CLI's whole output.
 */
export function createTenant(demo, name, owner) {
  // Only the command's own settings: no ACCORD_* variable leaks in from the test environment.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ACCORD_')));
  const out = execFileSync(ACCORD_BIN, ['tenant', 'create', '--name', name, '--owner-email', owner], {
    env: { ...env, ACCORD_DATABASE__DATA_DIR: demo.dataDir, ACCORD_LOG__LEVEL: 'warn' },
    encoding: 'utf8',
  });
  const printed = /^Set-password link[^:]*: (\S+)/m.exec(out);
  expect(printed, out).not.toBeNull();
  return { link: printed[1].slice(printed[1].indexOf('/console/')), out };
}

/** Opens a set-password link in `page` and chooses {@link PASSWORD}; the page ends signed in. */
export async function setPassword(page, demo, link) {
  await page.goto(demo.baseUrl + link);
  // The page moves on by itself to the form without the secret in its address.
  await page.waitForURL(/\/console\/set-password$/);
  await page.locator('#password').fill(PASSWORD);
  await page.locator('#confirm').fill(PASSWORD);
  await page.locator('form button[type=submit]').click();
  await expect(page).toHaveURL(/\/console\?done=password-set$/);
}

/** A guarded context (`options` as for `browser.newContext`) signed in as `email`. */
export async function signedIn(browser, demo, email, options = {}) {
  const context = await browser.newContext(options);
  const guard = await guardContext(context, { origin: demo.baseUrl });
  const page = await context.newPage();
  await page.goto(`${demo.baseUrl}/console/sign-in`);
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(PASSWORD);
  await page.locator('form.stack button[type=submit]').click();
  await expect(page).toHaveURL(/\/console$/);
  return { context, guard, page };
}
