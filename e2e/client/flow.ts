// An integrator's first steps with a client generated from Accord's openapi.json
// (openapi-typescript for the types, openapi-fetch for the calls): create a company, create a
// link session and open its URL, list the company's connections; and the typed errors
// (problem+json) on the way. Type-checked with `tsc` before it runs, so a wrong document (a
// query parameter declared in the path, a missing field) fails here before any request.
import createClient from 'openapi-fetch';
import type { paths } from './schema.js';

const baseUrl = process.env.CLIENT_BASE_URL;
const apiKey = process.env.CLIENT_API_KEY;
if (!baseUrl || !apiKey) {
  throw new Error('set CLIENT_BASE_URL and CLIENT_API_KEY (client/run.sh does)');
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) {
    throw new Error(`client flow: ${message}`);
  }
}

const accord = createClient<paths>({
  baseUrl,
  headers: { Authorization: `Bearer ${apiKey}` },
});

// 1. A company.
const name = `Client Test Bakery ${Date.now()}`;
const created = await accord.POST('/v1/companies', {
  body: { name, external_id: `client-${Date.now()}` },
});
check(created.response.status === 201, `create company answered ${created.response.status}`);
check(created.data, 'create company returned no body');
const company = created.data;
check(company.name === name, `company name ${company.name}`);

// The list takes `limit` and `after` in the query string, as the document now says.
const listed = await accord.GET('/v1/companies', { params: { query: { limit: 200 } } });
check(listed.data?.data.some((c) => c.id === company.id), 'new company not listed');

// 2. A link session, and its URL opens the hosted flow.
const session = await accord.POST('/v1/companies/{company_id}/link-sessions', {
  params: { path: { company_id: company.id } },
  body: { locale: 'en', categories: ['accounting'] },
});
check(session.response.status === 201, `link session answered ${session.response.status}`);
check(session.data, 'link session returned no body');
check(new Date(session.data.expires_at).getTime() > Date.now(), 'link session already expired');
// The link sets the browser session's cookie and redirects to the flow's first page.
const opened = await fetch(session.data.url, { redirect: 'manual' });
check(opened.status === 303, `link URL answered ${opened.status}`);
const cookie = opened.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
const location = new URL(opened.headers.get('location') ?? '', session.data.url);
const page = await fetch(location, { headers: { cookie } });
check(page.status === 200, `the flow's first page answered ${page.status}`);
check((page.headers.get('content-type') ?? '').startsWith('text/html'), 'link URL is not a page');

// 3. The company's connections: none yet (completing the platform sign-in needs a browser:
// e2e/tests/flow.spec.js covers that part).
const connections = await accord.GET('/v1/companies/{company_id}/connections', {
  params: { path: { company_id: company.id } },
});
check(connections.response.status === 200, `connections answered ${connections.response.status}`);
check(Array.isArray(connections.data?.data), 'connections is not a list');
check(connections.data.data.length === 0, 'a new company already has connections');

// Errors come back typed: a problem+json document with its status.
const missing = await accord.GET('/v1/companies/{company_id}', {
  params: { path: { company_id: '00000000-0000-7000-8000-000000000000' } },
});
check(missing.response.status === 404, `unknown company answered ${missing.response.status}`);
check(missing.error?.status === 404, 'the 404 is not a problem document');
check(
  missing.response.headers.get('content-type') === 'application/problem+json',
  `404 content type ${missing.response.headers.get('content-type')}`,
);
const invalid = await accord.POST('/v1/companies', { body: { name: '   ' } });
check(invalid.response.status === 422, `blank name answered ${invalid.response.status}`);
check(invalid.error?.errors?.some((e) => e.path === 'name'), 'the 422 does not name the field');

const anonymous = createClient<paths>({ baseUrl });
const refused = await anonymous.GET('/v1/companies');
check(refused.response.status === 401, `no key answered ${refused.response.status}`);
check(refused.error?.status === 401, 'the 401 is not a problem document');

console.log(`client flow: company ${company.id}, link session, 0 connections, typed errors: ok`);
