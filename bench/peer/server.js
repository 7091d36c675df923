// The peer of the hosted-flow benchmark: node oidc-provider, in memory (its default adapter),
// one confidential client, PKCE (S256) required, the login and consent interactions served by
// node's own http server through the provider's interaction API (no Express or Koa of ours).
//
//   PORT=8090 node server.js
//
// The flow the load generator runs against it: GET /auth (303 to the interaction), the login
// page, POST login (303 back to /auth), the resume (303 to the consent interaction), the consent
// page, POST consent, the resume (303 to the redirect URI with the code), then POST /token with
// the code and the PKCE verifier. The forms carry a hidden per-interaction token, checked on
// POST, as Accord's forms carry a CSRF token.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 8090);
const issuer = `http://127.0.0.1:${port}`;
const clientId = 'bench';
const clientSecret = 'bench-secret-bench-secret-bench-secret';
const redirectUri = `${issuer}/cb`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: { devInteractions: { enabled: false } },
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
});

// The hidden field of a form: an HMAC of the interaction id, like Accord's CSRF token (an HMAC
// of the browser session).
const formKey = crypto.randomBytes(32);
const formToken = (uid) => crypto.createHmac('sha256', formKey).update(uid).digest('base64url');

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, title, body) {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { data += chunk; });
    req.on('end', () => resolve(new URLSearchParams(data)));
    req.on('error', reject);
  });
}

async function showInteraction(req, res) {
  const { uid, prompt, params } = await provider.interactionDetails(req, res);
  const token = formToken(uid);
  if (prompt.name === 'login') {
    return page(res, 'Sign in', `<form method="post" action="/interaction/${uid}/login">
<input type="hidden" name="form_token" value="${token}">
<label>Account <input name="login" value=""></label>
<button type="submit">Sign in</button></form>`);
  }
  return page(res, 'Allow access', `<p>${escape(params.client_id)} asks for: ${escape(params.scope)}</p>
<form method="post" action="/interaction/${uid}/confirm">
<input type="hidden" name="form_token" value="${token}">
<button type="submit">Allow</button></form>`);
}

async function submitLogin(req, res, uid) {
  const form = await readForm(req);
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid || form.get('form_token') !== formToken(uid) || !form.get('login')) {
    res.writeHead(400).end('bad form');
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: form.get('login') } }, { mergeWithLastSubmission: false });
}

async function submitConsent(req, res, uid) {
  const form = await readForm(req);
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid || form.get('form_token') !== formToken(uid)) {
    res.writeHead(400).end('bad form');
    return;
  }
  const { prompt: { details: missing }, params, session: { accountId } } = details;
  let grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

const providerCallback = provider.callback();
const route = /^\/interaction\/([\w-]+)(?:\/(login|confirm))?$/;

const server = http.createServer(async (req, res) => {
  try {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    const m = route.exec(req.url);
    if (m && req.method === 'GET' && !m[2]) return await showInteraction(req, res);
    if (m && req.method === 'POST' && m[2] === 'login') return await submitLogin(req, res, m[1]);
    if (m && req.method === 'POST' && m[2] === 'confirm') return await submitConsent(req, res, m[1]);
    return providerCallback(req, res);
  } catch (err) {
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(String(err && err.message));
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`peer listening on ${issuer} client_id=${clientId} client_secret=${clientSecret} redirect_uri=${redirectUri}`);
});
