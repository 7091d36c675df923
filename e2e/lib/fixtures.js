// The suite's `test`: Playwright's, plus a guard on every browser context that fails the test
// when the browser meets
//   - a document response from Accord without the security headers (CSP with nonces and
//     frame-ancestors, nosniff, Referrer-Policy, Cache-Control: no-store), or any response
//     without nosniff and a CSP;
//   - a Content-Security-Policy violation (reported by the page's `securitypolicyviolation`
//     event, through an init script);
//   - a request to any origin but Accord's (no third-party request, ever).
import { test as base, expect } from '@playwright/test';
import { Api } from './api.js';
import { ORIGIN } from './env.js';

/** Problems a response's headers show, or []. */
export function headerProblems(url, status, type, h) {
  const out = [];
  const where = `${status} ${url} (${type})`;
  const csp = h['content-security-policy'] || '';
  if (!csp) out.push(`${where}: no Content-Security-Policy`);
  if (!/frame-ancestors\s+[^;]+/.test(csp)) out.push(`${where}: CSP without frame-ancestors: ${csp}`);
  if (/unsafe-inline|unsafe-eval/.test(csp)) out.push(`${where}: CSP allows unsafe-inline/eval: ${csp}`);
  if ((h['x-content-type-options'] || '').toLowerCase() !== 'nosniff') out.push(`${where}: no X-Content-Type-Options: nosniff`);
  if (type === 'document') {
    if (!/default-src 'none'/.test(csp)) out.push(`${where}: CSP without default-src 'none': ${csp}`);
    const scriptSrc = /script-src ([^;]*)/.exec(csp);
    if (scriptSrc && !/'nonce-[A-Za-z0-9_\-+/=]{16,}'/.test(scriptSrc[1])) out.push(`${where}: script-src without a nonce: ${csp}`);
    if ((h['referrer-policy'] || '') !== 'no-referrer') out.push(`${where}: Referrer-Policy is ${h['referrer-policy']}`);
    if (!/no-store/.test(h['cache-control'] || '')) out.push(`${where}: Cache-Control is ${h['cache-control']}`);
  }
  return out;
}

/**
 * Installs the guard on a context. Returns the list its findings go to; `settle()` waits for
 * the header checks still running.
 */
export async function guardContext(context, { origin = ORIGIN, allowOrigins = [] } = {}) {
  const problems = [];
  const pending = [];
  const documents = [];
  await context.exposeBinding('__accordReportViolation', ({ page }, v) => {
    problems.push(`CSP violation on ${page ? page.url() : '?'}: ${v}`);
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const report = window.__accordReportViolation;
      if (report) report(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber} (${e.sample})`);
    });
  });
  context.on('request', (req) => {
    const u = new URL(req.url());
    if (u.protocol === 'data:' || u.protocol === 'about:' || u.protocol === 'blob:') return;
    if (u.origin !== origin && !allowOrigins.includes(u.origin)) {
      problems.push(`request to another origin: ${req.method()} ${req.url()}`);
    }
  });
  context.on('response', (res) => {
    const url = res.url();
    if (new URL(url).origin !== origin) return;
    const type = res.request().resourceType();
    pending.push(
      res.allHeaders().then(
        (h) => {
          if (type === 'document') documents.push({ url, status: res.status(), headers: h });
          problems.push(...headerProblems(url, res.status(), type, h));
        },
        () => {}, // the page went away before the headers were read
      ),
    );
  });
  return {
    problems,
    documents,
    async settle() {
      await Promise.all(pending.splice(0));
    },
  };
}

export const test = base.extend({
  /** Origins besides Accord's this test may request (the CSRF test's attacker page). */
  allowOrigins: [[], { option: true }],

  api: async ({}, use) => {
    await use(new Api());
  },

  guard: [
    async ({ context, allowOrigins }, use) => {
      const g = await guardContext(context, { allowOrigins });
      await use(g);
      await g.settle();
      expect(g.problems, 'security guard: headers, CSP violations, third-party requests').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };
