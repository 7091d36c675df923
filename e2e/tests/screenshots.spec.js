// Screenshots of every step, desktop (1280×900) and phone (375×812), in
// English and French: docs/screenshots/<step>-<desktop|phone>-<en|fr>.png, full page. The
// README shows docs/screenshots/consent-desktop-en.png; docs/screenshots/README.md shows all.
import fs from 'node:fs';
import path from 'node:path';
import { test, expect } from '../lib/fixtures.js';
import { LANGS, SCREENSHOT_DIR } from '../lib/env.js';
import { STATES, tour } from '../lib/tour.js';

const DEVICES = {
  desktop: { viewport: { width: 1280, height: 900 } },
  phone: { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true },
};

for (const [device, options] of Object.entries(DEVICES)) {
  for (const lang of LANGS) {
    test.describe(`${device}`, () => {
      test.use({ ...options, deviceScaleFactor: 1, colorScheme: 'light', locale: lang === 'fr' ? 'fr-FR' : 'en-GB' });
      test(`screenshots of every step (${device}, ${lang})`, async ({ page, api }) => {
        fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
        const written = [];
        await tour(page, {
          api,
          lang,
          onState: async (state) => {
            const file = path.join(SCREENSHOT_DIR, `${state}-${device}-${lang}.png`);
            // No caret blinking, no animation: the same page gives the same picture.
            await page.screenshot({ path: file, fullPage: true, animations: 'disabled', caret: 'hide' });
            written.push(path.basename(file));
          },
        });
        expect(written).toEqual(STATES.map((s) => `${s}-${device}-${lang}.png`));
        for (const f of written) expect(fs.statSync(path.join(SCREENSHOT_DIR, f)).size).toBeGreaterThan(5000);
        // The gallery shows every one of them.
        const gallery = fs.readFileSync(path.join(SCREENSHOT_DIR, 'README.md'), 'utf8');
        for (const f of written) expect(gallery, `docs/screenshots/README.md shows ${f}`).toContain(`src="${f}"`);
      });
    });
  }
}
