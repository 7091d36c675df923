// The manage page's side of data access, in a real browser: each card names who was connected
// ("Bluebell Bakery · Accord Sandbox Books"), and shows what was accessed through it in the
// customer's language, with a CSV download — with JavaScript on and off, in both languages,
// with zero axe-core violations.
import { test, expect } from '../lib/fixtures.js';
import { newCustomer } from '../lib/api.js';
import { runAxe } from '../lib/axe.js';
import { LANGS } from '../lib/env.js';
import { connect } from '../lib/flow.js';
import { t } from '../lib/i18n.js';

const WORDS = {
  en: { heading: 'What was accessed', read: /Read invoices — \d+ records?$/, refused: /Refused: not covered by your consent$/, empty: 'No data has been accessed through this connection yet.' },
  fr: { heading: 'Données consultées', read: /Consultation\u00a0: factures clients — \d+\u00a0enregistrements?$/, refused: /Refusé\u00a0: non couvert par votre accord$/, empty: 'Aucune donnée n’a encore été consultée via cette connexion.' },
};

for (const lang of LANGS) {
  for (const js of [true, false]) {
    test.describe(`${lang}, JavaScript ${js ? 'on' : 'off'}`, () => {
      test.use({ javaScriptEnabled: js });
      test(`the manage page names the organisation and shows the access log (${lang}, js ${js})`, async ({ page, api }) => {
        const { company, link } = await newCustomer(api, { locale: lang });
        await page.goto(link);
        const id = await connect(page, { lang, org: 'Bluebell Bakery' });
        await expect(page.locator('article.connection h2')).toHaveText('Bluebell Bakery · Accord Sandbox Books');

        await page.goto(await api.manageUrl(company.id));
        await expect(page.locator('html')).toHaveAttribute('lang', lang);
        const log = page.locator(`#log-${id}`);
        await expect(log.locator('h3')).toHaveText(WORDS[lang].heading);
        await expect(log.locator('p.muted')).toHaveText(WORDS[lang].empty);

        // Two calls through the data API: one served, one refused (writing was not agreed to).
        const base = `/v1/companies/${company.id}/connections/${id}/data/invoices`;
        expect((await api.call('GET', base)).status).toBe(200);
        const write = await api.call('POST', base, { contact: 'x', total: 1 });
        expect(write.status).toBe(403);

        await page.reload();
        await expect(page.locator('article.connection h2')).toHaveText('Bluebell Bakery · Accord Sandbox Books');
        const rows = log.locator('ol.access li');
        await expect(rows).toHaveCount(2);
        await expect(rows.nth(0)).toHaveText(WORDS[lang].refused);
        await expect(rows.nth(1)).toHaveText(WORDS[lang].read);
        await expect(rows.nth(0).locator('time')).toHaveAttribute('datetime', /^\d{4}-\d\d-\d\dT/);

        const href = await log.locator('a[download]').getAttribute('href');
        expect(href).toBe(`/manage/connections/${id}/access-log.csv`);
        const csv = await page.request.get(new URL(href, page.url()).href);
        expect(csv.status()).toBe(200);
        expect(csv.headers()['content-type']).toBe('text/csv; charset=utf-8');
        expect(csv.headers()['content-disposition']).toMatch(/^attachment; filename="access-log-sandbox-\d{4}-\d\d-\d\d\.csv"$/);
        const lines = (await csv.text()).split('\r\n');
        expect(lines[0]).toBe('time,kind,data_type,direction,outcome,records,platform_status,api_key_id,description');
        expect(lines.length).toBe(4);

        // axe-core runs as a script in the page, so it checks the JavaScript-on pass; the
        // server-rendered page is the same either way.
        if (js) {
          const axe = await runAxe(page);
          expect(axe.violations, JSON.stringify(axe.violations, null, 2)).toEqual([]);
        }
        expect(t(lang, 'access-heading')).toBe(WORDS[lang].heading);
      });
    });
  }
}
