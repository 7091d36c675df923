// Web security in the browser: the consent checkbox, CSRF from other sites,
// framing, hostile tenant copy, and the security headers of every response.
// (Every test of the suite also runs under the guard of lib/fixtures.js: headers on every
// response, no CSP violation, no third-party request.)
import { test, expect, guardContext } from '../lib/fixtures.js';
import { Api, newCustomer } from '../lib/api.js';
import { startAttacker } from '../lib/attacker.js';
import { BASE_URL, LANGS, ORIGIN } from '../lib/env.js';
import { connect, sel, signInAtPlatform } from '../lib/flow.js';
import { t } from '../lib/i18n.js';
import { startPrivateDemo } from '../lib/server.js';
import { STATES, tour } from '../lib/tour.js';

test.describe('the consent checkbox', () => {
  for (const js of [true, false]) {
    test.describe(`JavaScript ${js ? 'on' : 'off'}`, () => {
      test.use({ javaScriptEnabled: js });
      test(`starts unticked, and Connect without it is refused with a 422 page (JavaScript ${js ? 'on' : 'off'})`, async ({ page, api }) => {
        const { company, link } = await newCustomer(api);
        await page.goto(link);
        await page.locator(sel.start).click();
        await page.locator(sel.tile('sandbox')).click();
        await expect(page.locator(sel.agree)).not.toBeChecked();
        await expect(page.locator(sel.agree)).not.toHaveAttribute('checked', /.*/);
        const [res] = await Promise.all([
          page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/link/platforms/sandbox/consent')),
          page.locator(sel.connect).click(),
        ]);
        expect(res.status()).toBe(422);
        await expect(page).toHaveURL(/\/link\/platforms\/sandbox\/consent$/);
        await expect(page.locator('#agree-error')).toHaveText(t('en', 'consent-error-unticked'));
        await expect(page.locator(sel.agree)).not.toBeChecked();
        // Nothing was recorded, nothing was started.
        expect(await api.connections(company.id)).toEqual([]);
        expect(await api.consents(company.id)).toEqual([]);
      });
    });
  }
});

/**
 * A customer in the middle of the flow with both sessions: one linked connection, one
 * pending after a denial at the platform, a manage session; and the forms' CSRF tokens, which
 * the attacks below are given as if they had leaked.
 */
async function victim(page, api) {
  const { company, link } = await newCustomer(api);
  await page.goto(link);
  const linked = await connect(page, { key: 'sandbox' });
  const successUrl = page.url();
  const linkCsrf = await page.locator('input[name=csrf]').first().inputValue();
  await page.goto(`${BASE_URL}/link/platforms/sandbox-bank/consent`);
  await page.locator(sel.agree).check();
  await page.locator(sel.connect).click();
  await signInAtPlatform(page, { decision: 'deny' });
  const pending = (await page.locator(sel.retry).locator('xpath=..').getAttribute('action')).split('/')[3];
  await page.goto(`${BASE_URL}/link/platforms/sandbox-shop/consent`);
  const notice = {
    notice_version_id: await page.locator('input[name=notice_version_id]').inputValue(),
    notice_sha256: await page.locator('input[name=notice_sha256]').inputValue(),
  };
  await page.goto(successUrl);
  await page.locator(sel.toManage).click();
  await expect(page).toHaveURL(/\/manage$/);
  await page.locator(sel.disconnect('sandbox')).click();
  const manageCsrf = await page.locator('input[name=csrf]').first().inputValue();
  return { company, linked, pending, notice, linkCsrf, manageCsrf };
}

/** Every state-changing route of the hosted flow and the manage page, with a valid body. */
function forgedPosts(v, withToken, marker) {
  const csrf = withToken ? { csrf: v.linkCsrf } : {};
  const mcsrf = withToken ? { csrf: v.manageCsrf } : {};
  const support = { topic: 'other', message: marker, reply_to: 'attacker@evil.example', step: 'x', platform: '' };
  return [
    { route: 'POST /link/platforms/{key}/consent (connect)', path: '/link/platforms/sandbox-shop/consent', fields: { ...csrf, action: 'connect', agree: 'yes', ...v.notice } },
    { route: 'POST /link/platforms/{key}/consent (decline)', path: '/link/platforms/sandbox-shop/consent', fields: { ...csrf, action: 'decline' } },
    { route: 'POST /link/connections/{id}/retry', path: `/link/connections/${v.pending}/retry`, fields: { ...csrf } },
    { route: 'POST /link/manage', path: '/link/manage', fields: { ...csrf } },
    { route: 'POST /link/support', path: '/link/support', fields: { ...csrf, ...support } },
    { route: 'POST /manage/connections/{id}/disconnect', path: `/manage/connections/${v.linked}/disconnect`, fields: { ...mcsrf } },
    { route: 'POST /manage/support', path: '/manage/support', fields: { ...mcsrf, ...support } },
  ];
}

test.describe('cross-site requests', () => {
  let otherSite;
  let sameSite;
  test.beforeAll(async () => {
    otherSite = await startAttacker('127.0.0.2'); // another site: SameSite=Lax keeps the cookie off
    sameSite = await startAttacker('127.0.0.1'); // same site, another origin: the cookie goes, the Origin check and the token must refuse
  });
  test.afterAll(async () => {
    await otherSite?.close();
    await sameSite?.close();
  });

  test('a form posted from another origin to every state-changing route is refused', async ({ browser, api }) => {
    const context = await browser.newContext();
    const guard = await guardContext(context, { allowOrigins: [otherSite.origin, sameSite.origin] });
    const page = await context.newPage();
    const v = await victim(page, api);
    const marker = `csrf-${Date.now()}`;
    const variants = [
      { name: 'another site (127.0.0.2), with a leaked token', attacker: otherSite, withToken: true },
      { name: 'same site, other port, with a leaked token', attacker: sameSite, withToken: true },
      { name: 'same site, other port, without a token', attacker: sameSite, withToken: false },
      // The attacker's page hides its origin (`Origin: null`), which Accord accepts from its own
      // pages (served with no-referrer): the CSRF token must still refuse it.
      { name: 'same site, other port, without a token, Origin: null (no-referrer)', attacker: sameSite, withToken: false, referrer: 'no-referrer' },
    ];
    const refusals = [t('en', 'error-forbidden-title'), t('en', 'error-session-title')];
    const results = [];
    for (const variant of variants) {
      for (const post of forgedPosts(v, variant.withToken, marker)) {
        const target = BASE_URL + post.path;
        const [res] = await Promise.all([
          page.waitForResponse((r) => r.url() === target && r.request().method() === 'POST'),
          page.goto(variant.attacker.postUrl(target, post.fields, variant.referrer)),
        ]);
        await page.waitForURL((u) => u.origin === ORIGIN);
        const heading = await page.locator(sel.h1).textContent();
        results.push({ variant: variant.name, route: post.route, status: res.status(), heading });
      }
    }
    console.log(results.map((r) => `${r.status} ${r.route} — ${r.variant}: “${r.heading}”`).join('\n'));
    for (const r of results) {
      expect(r.status, `${r.route} from ${r.variant}`).toBe(403);
      expect(refusals, `${r.route} from ${r.variant}`).toContain(r.heading);
    }
    // Nothing changed: still linked, still pending, nothing new connected, no support request.
    expect((await api.connection(v.company.id, v.linked)).status).toBe('linked');
    expect((await api.connection(v.company.id, v.pending)).status).toBe('pending_auth');
    expect((await api.connections(v.company.id)).map((c) => c.platform_key).sort()).toEqual(['sandbox', 'sandbox-bank']);
    expect((await api.supportRequests()).filter((s) => s.message.includes(marker))).toEqual([]);
    // The customer's own forms still work in the same browser: the refusals were the origin's.
    await page.goto(`${BASE_URL}/manage/connections/${v.linked}/disconnect`);
    await page.locator(sel.confirmDisconnect).click();
    await expect(page).toHaveURL(/\/manage\?disconnected=sandbox$/);
    await guard.settle();
    expect(guard.problems).toEqual([]);
    await context.close();
  });

  test('another origin cannot frame the flow (frame-ancestors)', async ({ browser, api }) => {
    const context = await browser.newContext();
    const guard = await guardContext(context, { allowOrigins: [otherSite.origin] });
    const page = await context.newPage();
    const { link } = await newCustomer(api);
    const blocked = [];
    const frames = [];
    page.on('console', (m) => { if (/frame-ancestors|refused to frame|Refused to display/i.test(m.text())) blocked.push(m.text()); });
    for (const path of [link, '/link/start', '/guide', '/link/platforms/sandbox/consent']) {
      const target = path.startsWith('http') ? path : BASE_URL + path;
      await page.goto(otherSite.frameUrl(target));
      const frame = await (await page.waitForSelector('iframe')).contentFrame();
      await expect.poll(async () => frame.url()).not.toBe('about:blank');
      frames.push(frame.url());
      // A blocked frame holds Chromium's error page, never Accord's document.
      await expect.poll(async () => frame.evaluate(() => document.querySelector('main#main') === null).catch(() => true)).toBe(true);
    }
    console.log(`framed from ${otherSite.origin}: ${frames.join(', ')}; console: ${blocked.length} refusals`);
    expect(blocked.length).toBeGreaterThan(0);
    await guard.settle();
    // The CSP violation here is the point of the test: the framing page (not Accord) caused it.
    expect(guard.problems.filter((p) => !/frame-ancestors/.test(p))).toEqual([]);
    await context.close();
  });
});

test.describe('hostile tenant copy', () => {
  const HOSTILE = [
    '<script>window.__pwned=1</script>',
    '"><img src=x onerror=window.__pwned=1>',
    "'><svg onload=window.__pwned=1>",
    '</p><a href="javascript:window.__pwned=1">click</a>',
  ];
  let demo;
  test.beforeAll(async () => {
    demo = await startPrivateDemo();
  });
  test.afterAll(async () => {
    await demo?.stop();
  });

  test('is shown as text, never runs, and causes no CSP violation', async ({ browser }) => {
    const api = new Api(demo.baseUrl, demo.apiKey);
    // The API takes plain text (and refuses script URLs).
    for (const bad of ['javascript:window.__pwned=1', 'data:text/html,<script>1</script>']) {
      const r = await api.putLinkSettings({ privacy_policy_url: bad });
      expect(r.status, `privacy_policy_url ${bad}`).toBe(422);
    }
    const settings = {
      legal_name: HOSTILE[1],
      trust_message: { en: HOSTILE.join(' '), fr: HOSTILE.join(' ') },
      trust_statistics: [{ en: HOSTILE[2], fr: HOSTILE[2] }, { en: HOSTILE[3], fr: HOSTILE[3] }],
      support: { phone: '+44 20 7946 0000', email: 'help@lender.example', hours: { en: HOSTILE[1], fr: HOSTILE[0] }, form_enabled: true },
    };
    const put = await api.putLinkSettings(settings);
    expect(put.status, JSON.stringify(put.json)).toBe(200);
    for (const lang of LANGS) {
      const r = await api.publishNotice({
        category: 'accounting',
        locale: lang,
        content: {
          purpose: HOSTILE[0],
          data_uses: [{ data_type: 'invoices', direction: 'read' }, { data_type: 'bills', direction: 'write' }],
          retention: HOSTILE[1],
          third_party_sharing: HOSTILE[2],
          withdrawal: `${HOSTILE[3]} [withdraw](javascript:window.__pwned=1)`,
          privacy_policy_url: `${demo.baseUrl}/privacy`,
        },
      });
      expect(r.status, JSON.stringify(r.json)).toBe(201);
    }
    const bad = await api.publishNotice({
      category: 'accounting', locale: 'en',
      content: { purpose: 'x', data_uses: [{ data_type: 'invoices', direction: 'read' }], retention: 'x', third_party_sharing: 'x', withdrawal: 'x', privacy_policy_url: 'javascript:window.__pwned=1' },
    });
    expect(bad.status).toBe(422);

    const context = await browser.newContext();
    const guard = await guardContext(context, { origin: demo.baseUrl });
    const page = await context.newPage();
    const company = await api.createCompany(HOSTILE[1]);
    const link = await api.linkUrl(company.id);
    const checkPage = async (what, { expectText = [] } = {}) => {
      const state = await page.evaluate(() => ({
        pwned: typeof window.__pwned,
        scripts: [...document.scripts].map((s) => s.src),
        injected: document.querySelectorAll('img[src="x"], svg[onload], [onerror], [onload], a[href^="javascript:"]').length,
        text: document.body.innerText,
      }));
      expect(state.pwned, `${what}: window.__pwned`).toBe('undefined');
      expect(state.scripts, `${what}: scripts`).toEqual([`${demo.baseUrl}/assets/accord.js`]);
      expect(state.injected, `${what}: injected elements`).toBe(0);
      for (const s of expectText) expect(state.text, `${what}: shown as text`).toContain(s);
    };
    await page.goto(link);
    await checkPage('landing', { expectText: [HOSTILE[0], HOSTILE[1], HOSTILE[2]] });
    await page.goto(`${demo.baseUrl}/link/platforms?q=${encodeURIComponent(HOSTILE[0])}`);
    await checkPage('select with a hostile search', { expectText: [HOSTILE[0]] });
    await page.goto(`${demo.baseUrl}/link/platforms/sandbox/consent`);
    await checkPage('consent', { expectText: [HOSTILE[0], HOSTILE[1], HOSTILE[2]] });
    await page.locator(sel.connect).click();
    await checkPage('consent with its error');
    await page.locator(sel.agree).check();
    await page.locator(sel.connect).click();
    await signInAtPlatform(page, { org: HOSTILE[1] });
    await checkPage('success', { expectText: [HOSTILE[1]] });
    await page.goto(`${demo.baseUrl}/link/callback/sandbox?error=${encodeURIComponent(HOSTILE[1])}&state=${encodeURIComponent(HOSTILE[0])}`);
    await checkPage('callback with hostile parameters');
    await page.goto(`${demo.baseUrl}/link/support?error=${encodeURIComponent(HOSTILE[1])}&step=${encodeURIComponent(HOSTILE[0])}`);
    await checkPage('support form with hostile parameters');
    await page.locator('#message').fill(HOSTILE.join('\n'));
    await page.locator('#reply_to').fill(HOSTILE[1]);
    await page.locator('main form.support-form button[type=submit]').click();
    await checkPage('support form re-shown with hostile input', { expectText: [HOSTILE[0]] });
    await page.goto(await api.manageUrl(company.id));
    await checkPage('manage', { expectText: [HOSTILE[1]] });
    await page.goto(`${demo.baseUrl}/guide`);
    await checkPage('guide');
    await guard.settle();
    expect(guard.problems, 'no CSP violation, no third-party request, headers present').toEqual([]);
    await context.close();
  });
});

test('security headers on every document response, redirects and error pages included', async ({ page, api, guard }) => {
  // The guard checks each response as it arrives; this test makes sure it saw every kind.
  await tour(page, { api, lang: 'en' });
  await guard.settle();
  const statuses = new Set(guard.documents.map((d) => d.status));
  for (const s of [200, 303, 403, 404, 410, 422]) expect([...statuses], `a ${s} document was checked`).toContain(s);
  const paths = new Set(guard.documents.map((d) => new URL(d.url).pathname.replace(/[0-9a-f-]{36}/g, '{id}').replace(/\/link\/[A-Za-z0-9_-]{43}$/, '/link/{token}').replace(/\/manage\/[A-Za-z0-9_-]{43}$/, '/manage/{token}')));
  console.log(`headers checked on ${guard.documents.length} document responses (${STATES.length} states): ${[...paths].sort().join(' ')}`);
  expect(guard.documents.length).toBeGreaterThanOrEqual(STATES.length);
  expect(guard.problems).toEqual([]);
});

test('the guard itself notices a CSP violation and a third-party request (control)', async ({ browser }) => {
  // The hostile-copy and header checks above are only as good as the guard: show it fires.
  const context = await browser.newContext();
  const guard = await guardContext(context);
  const page = await context.newPage();
  await page.goto(`${BASE_URL}/guide`);
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__pwned = 1';
    document.body.append(s);
  });
  await page.evaluate(() => fetch('http://127.0.0.2:9/x').catch(() => {}));
  await expect.poll(() => guard.problems.length).toBeGreaterThanOrEqual(2);
  expect(await page.evaluate(() => typeof window.__pwned)).toBe('undefined');
  expect(guard.problems.some((p) => /CSP violation .*script-src/.test(p)), guard.problems.join('\n')).toBe(true);
  expect(guard.problems.some((p) => /connect-src|another origin/.test(p)), guard.problems.join('\n')).toBe(true);
  await context.close();
});
