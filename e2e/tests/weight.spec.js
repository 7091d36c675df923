// Weight budget, so the flow stays quick on a slow phone connection, measured by the browser:
// each step transfers at most 30 KB in all, its HTML at most 14 KB as sent (compressed), and
// nothing comes from another origin. The figures are printed for every step; the test fails
// above budget.
import fs from 'node:fs';
import path from 'node:path';
import { test, expect } from '../lib/fixtures.js';
import { E2E_DIR, LANGS, ORIGIN } from '../lib/env.js';
import { STATES, tour } from '../lib/tour.js';
import { BUDGET, formatTable, startMeter } from '../lib/weight.js';

for (const lang of LANGS) {
  test(`every step within 30 KB, HTML within 14 KB compressed, no third-party request (${lang})`, async ({ page, api }) => {
    const meter = await startMeter(page);
    const rows = [];
    await tour(page, {
      api,
      lang,
      visit: async (name, action) => {
        rows.push(await meter.measure(name, action));
      },
    });
    await meter.stop();
    console.log(`weight per step (${lang}; cache disabled; budget ${BUDGET.total / 1024} KB total, ${BUDGET.html / 1024} KB HTML):\n${formatTable(rows)}`);
    fs.mkdirSync(path.join(E2E_DIR, 'test-results'), { recursive: true });
    fs.writeFileSync(path.join(E2E_DIR, 'test-results', `weights-${lang}.json`), JSON.stringify(rows, null, 2));
    expect(rows.map((r) => r.step)).toEqual(STATES);
    for (const r of rows) {
      expect.soft(r.pending, `${r.step}: requests still loading`).toEqual([]);
      expect.soft(r.urls.filter((u) => new URL(u).origin !== ORIGIN && !u.startsWith('data:')), `${r.step}: third-party requests`).toEqual([]);
      expect.soft(r.html, `${r.step}: HTML as sent (${r.htmlEncoding}) ≤ 14 KB`).toBeLessThanOrEqual(BUDGET.html);
      expect.soft(r.total, `${r.step}: total transferred ≤ 30 KB`).toBeLessThanOrEqual(BUDGET.total);
      expect.soft(r.html, `${r.step}: the HTML was measured`).toBeGreaterThan(0);
    }
  });
}
