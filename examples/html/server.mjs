// A tenant's site in a few lines of Node (no dependencies): serves index.html, creates the
// Accord link session on the server side, where the API key stays, and answers the return URL
// `/accord/done` (pass `linkSession: {return_url}` to have the link sessions carry it).
//
//   ACCORD_URL=http://127.0.0.1:8080 ACCORD_API_KEY=acc_... ACCORD_COMPANY_ID=<uuid> \
//     node server.mjs            # then open http://localhost:3000
//
// Register this page's origin in Accord's link settings first (a merge patch: only
// `integration` changes, the tenant's other settings stay):
//   PATCH /v1/link-settings  content-type: application/merge-patch+json
//   {"integration": {"embedding_origins": ["http://localhost:3000"]}}
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const page = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'index.html'), 'utf8');

/** Starts the host site; resolves to `{ origin, close }`. */
export function startHost({ accordUrl, apiKey, companyId, host = '127.0.0.1', port = 0, linkSession = {} }) {
  const server = http.createServer(async (req, res) => {
    if (req.method === 'GET' && (req.url === '/' || req.url.startsWith('/?'))) {
      const nonce = crypto.randomBytes(16).toString('base64');
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        // A strict page: the SDK works under it (its style element takes the nonce).
        'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}' ${accordUrl}; style-src 'nonce-${nonce}'; frame-src ${accordUrl}; connect-src 'self'`,
      });
      res.end(page.replaceAll('__ACCORD_URL__', accordUrl).replaceAll('__NONCE__', nonce));
      return;
    }
    if (req.method === 'POST' && req.url === '/link-session') {
      const r = await fetch(`${accordUrl}/v1/companies/${companyId}/link-sessions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(linkSession),
      });
      // Only the URL goes to the browser; an error goes through as it came (problem details),
      // so the page can say what went wrong instead of opening nothing.
      const text = await r.text();
      if (!r.ok) {
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') || 'application/problem+json' });
        res.end(text);
        return;
      }
      res.writeHead(r.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: JSON.parse(text).url }));
      return;
    }
    if (req.method === 'GET' && req.url.startsWith('/accord/done')) {
      // The return URL (register it in `integration.return_urls` and give it to the link
      // session): where the customer comes back when the flow ran at the top level, e.g. when
      // the platform popup was blocked. The query says what happened; refresh from the API.
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'" });
      res.end('<!doctype html><html lang="en"><meta charset="utf-8"><title>Northwind Lending · Welcome back</title><main><h1>Welcome back</h1></main></html>');
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const a = server.address();
      resolve({ origin: `http://${host}:${a.port}`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { ACCORD_URL, ACCORD_API_KEY, ACCORD_COMPANY_ID, PORT } = process.env;
  if (!ACCORD_URL || !ACCORD_API_KEY || !ACCORD_COMPANY_ID) {
    console.error('set ACCORD_URL, ACCORD_API_KEY and ACCORD_COMPANY_ID');
    process.exit(2);
  }
  const host = await startHost({ accordUrl: ACCORD_URL, apiKey: ACCORD_API_KEY, companyId: ACCORD_COMPANY_ID, host: 'localhost', port: Number(PORT || 3000) });
  console.log(`host page at ${host.origin}`);
}
