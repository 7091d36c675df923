// Another site: a tiny HTTP server on another loopback origin that serves pages which post
// forms to Accord on their own (CSRF) or try to frame it (clickjacking).
import http from 'node:http';

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Starts a server on `host` (e.g. 127.0.0.2: another site; 127.0.0.1: same site, other port). */
export async function startAttacker(host) {
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname === '/post') {
      // ?target=<url>&fields=<json>&referrer=<policy>: auto-submits the form on load.
      const fields = JSON.parse(u.searchParams.get('fields') || '{}');
      const referrer = u.searchParams.get('referrer');
      const inputs = Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html><head>${referrer ? `<meta name="referrer" content="${esc(referrer)}">` : ''}<title>Win a prize</title></head>
<body><form method="post" action="${esc(u.searchParams.get('target'))}">${inputs}<button>Claim</button></form>
<script>document.forms[0].submit()</script></body></html>`);
      return;
    }
    if (u.pathname === '/frame') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html><head><title>Framing</title></head><body><iframe name="victim" src="${esc(u.searchParams.get('target'))}" width="800" height="600"></iframe></body></html>`);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(0, host, resolve); });
  const origin = `http://${host}:${server.address().port}`;
  return {
    origin,
    postUrl: (target, fields, referrer) => `${origin}/post?${new URLSearchParams({ target, fields: JSON.stringify(fields), ...(referrer ? { referrer } : {}) })}`,
    frameUrl: (target) => `${origin}/frame?${new URLSearchParams({ target })}`,
    close: () => new Promise((r) => server.close(r)),
  };
}
