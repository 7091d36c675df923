// A support request from every step: the help footer of each page, error
// pages included, offers the tenant's contacts and the support form; a request sent from any
// step reaches the tenant with the step attached, and the customer gets a reference.
import { test, expect } from '../lib/fixtures.js';
import { LANGS } from '../lib/env.js';
import { sel } from '../lib/flow.js';
import { t } from '../lib/i18n.js';
import { tour } from '../lib/tour.js';

/** The step (and platform) the support form should record for each state of the tour. */
const EXPECTED = {
  landing: { step: 'landing', surface: 'link' },
  select: { step: 'select', surface: 'link' },
  'select-search': { step: 'select', surface: 'link' },
  consent: { step: 'consent', platform: 'sandbox', surface: 'link' },
  'consent-error': { step: 'consent', platform: 'sandbox', surface: 'link' },
  declined: { step: 'declined', surface: 'link' },
  'callback-error': { step: 'callback', platform: 'sandbox', surface: 'link' },
  success: { step: 'success', platform: 'sandbox', surface: 'link' },
  receipt: { step: 'receipt', surface: 'link' },
  finished: { step: 'finished', surface: 'link' },
  manage: { step: 'manage', surface: 'manage' },
  'manage-confirm': { step: 'manage-confirm', platform: 'sandbox', surface: 'manage' },
  'manage-disconnected': { step: 'manage', surface: 'manage' },
  // Reached after finishing, which ended the flow's session: the manage session files them.
  guide: { step: 'guide', surface: 'manage' },
  privacy: { step: 'privacy', surface: 'manage' },
  'not-found': { step: 'error', surface: 'link' },
};
/** A flow page a browser without a session reaches: no tenant is known, so Accord's own help shows. */
const NO_SESSION = ['session-expired'];
/** No session to file a request against, but the tenant is known: the personal link's page
 * before it opens a session, the closing page once the session ended, and a used link (its
 * tenant named by the link): the tenant's contacts, no form. */
const CONTACTS_ONLY = ['manage-return', 'finished', 'link-used'];

for (const lang of LANGS) {
  test(`a support request from every step reaches the tenant with the step attached (${lang})`, async ({ page, api, context }) => {
    // A tour of every step with a request filed from each (about forty page loads and form
    // posts): half a minute on a quiet machine, more than the suite's 60 s default on a busy one.
    test.setTimeout(180_000);
    const sent = [];
    const send = async (state, link, topic) => {
      // The link's own address opened in a tab of its own, so the step itself stays where it
      // is. (A Ctrl+click opens a background tab whose load the browser may hold back for
      // longer than any timeout on a busy machine; the address is what carries the step.)
      const href = await link.getAttribute('href');
      expect(href).toBeTruthy();
      const form = await context.newPage();
      await form.goto(new URL(href, page.url()).toString(), { waitUntil: 'domcontentloaded' });
      await expect(form.locator(sel.h1)).toHaveText(t(lang, 'support-title'), { timeout: 15_000 });
      if (topic) await expect(form.locator('#topic')).toHaveValue(topic);
      const message = `Help from ${state} ${Date.now()}-${Math.random()}`;
      const prefilled = await form.locator('#message').inputValue();
      await form.locator('#message').fill(`${prefilled} ${message}`.trim());
      await form.locator('#reply_to').fill('owner@bluebell.example');
      await form.locator('main form.support-form button[type=submit]').click();
      await expect(form.locator(sel.h1)).toHaveText(t(lang, 'support-done-title'));
      const reference = /SR-[A-Z2-9]{8}/.exec(await form.locator('main [role=status]').textContent())[0];
      sent.push({ state, reference, message, prefilled });
      await form.close();
    };
    const states = [];
    await tour(page, {
      api,
      lang,
      onState: async (state) => {
        states.push(state);
        const footer = page.locator('footer.help');
        await expect(footer.locator('h2')).toHaveText(t(lang, 'help-heading'));
        await expect(page.locator(sel.guideLink)).toHaveCount(1);
        if (state.startsWith('support')) return; // the form itself
        if (NO_SESSION.includes(state)) {
          await expect(page.locator(sel.supportLink)).toHaveCount(0);
          return;
        }
        // The tenant's contacts are on every step.
        await expect(footer.locator('a[href^="tel:"]')).toHaveCount(1);
        await expect(footer.locator('a[href^="mailto:"]')).toHaveCount(1);
        if (CONTACTS_ONLY.includes(state)) {
          await expect(page.locator(sel.supportLink)).toHaveCount(0);
          return;
        }
        await send(state, page.locator(sel.supportLink));
        if (state === 'select') {
          await send('select (platform missing)', page.locator('main .missing a'), 'platform_missing');
        }
        if (state === 'callback-error') {
          await send('callback-error (ask for help)', page.locator('main .actions a[href*="topic=connection_failed"]'), 'connection_failed');
        }
      },
    });
    expect(states.filter((s) => EXPECTED[s])).toEqual(Object.keys(EXPECTED));

    const all = await api.supportRequests();
    const rows = [];
    for (const s of sent) {
      const r = all.find((x) => x.reference === s.reference);
      expect(r, `support request ${s.reference} from ${s.state}`).toBeTruthy();
      expect(r.message).toContain(s.message);
      expect(r.reply_to).toBe('owner@bluebell.example');
      expect(r.diagnostics.locale).toBe(lang);
      const want = EXPECTED[s.state.split(' ')[0]];
      expect(r.diagnostics.step, `step recorded for ${s.state}`).toBe(want.step);
      expect(r.diagnostics.surface, `surface for ${s.state}`).toBe(want.surface);
      if (want.platform) expect(r.diagnostics.platform, `platform for ${s.state}`).toBe(want.platform);
      if (s.state.startsWith('callback-error')) expect(s.prefilled).toContain('access_denied');
      rows.push(`${s.state}: ${s.reference} step=${r.diagnostics.step}${r.diagnostics.platform ? ` platform=${r.diagnostics.platform}` : ''} topic=${r.topic}`);
    }
    console.log(`support requests (${lang}):\n  ${rows.join('\n  ')}`);
  });
}
