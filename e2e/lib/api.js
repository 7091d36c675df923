// The tenant API (`/v1/...`) of the running demo: make companies and links, read what the
// browser did (connections, consents, support requests), change the tenant's copy.
import { API_KEY, BASE_URL } from './env.js';

export class Api {
  constructor(baseUrl = BASE_URL, apiKey = API_KEY) {
    this.baseUrl = baseUrl;
    this.apiKey = apiKey;
  }

  async call(method, path, body, contentType = 'application/json') {
    const res = await fetch(this.baseUrl + path, {
      method,
      headers: {
        authorization: `Bearer ${this.apiKey}`,
        ...(body === undefined ? {} : { 'content-type': contentType }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = text; }
    return { status: res.status, json };
  }

  async ok(method, path, body) {
    const r = await this.call(method, path, body);
    if (r.status < 200 || r.status > 299) {
      throw new Error(`${method} ${path} answered ${r.status}: ${JSON.stringify(r.json)}`);
    }
    return r.json;
  }

  createCompany(name) { return this.ok('POST', '/v1/companies', { name }); }
  /** A fresh single-use link URL for the company (`locale` = the tenant's choice of language). */
  async linkUrl(companyId, opts = {}) {
    return (await this.ok('POST', `/v1/companies/${companyId}/link-sessions`, opts)).url;
  }
  async manageUrl(companyId) {
    return (await this.ok('POST', `/v1/companies/${companyId}/manage-sessions`, {})).url;
  }
  async connections(companyId) {
    return (await this.ok('GET', `/v1/companies/${companyId}/connections`)).data;
  }
  connection(companyId, id) { return this.ok('GET', `/v1/companies/${companyId}/connections/${id}`); }
  async consents(companyId) {
    return (await this.ok('GET', `/v1/companies/${companyId}/consents`)).data;
  }
  /** Every support request, following the pages (`next_cursor`). */
  async supportRequests() {
    const all = [];
    let after = '';
    for (let pages = 0; pages < 100; pages++) {
      const page = await this.ok('GET', `/v1/support-requests?limit=200${after ? `&after=${after}` : ''}`);
      all.push(...page.data);
      if (!page.next_cursor) return all;
      after = page.next_cursor;
    }
    throw new Error('more than 100 pages of support requests');
  }
  linkSettings() { return this.ok('GET', '/v1/link-settings'); }
  putLinkSettings(settings) { return this.call('PUT', '/v1/link-settings', settings); }
  publishNotice(notice) { return this.call('POST', '/v1/notices', notice); }
}

/** A company with its own link: every test works on its own customer. */
export async function newCustomer(api, { name = 'Bluebell Bakery Ltd', locale } = {}) {
  const company = await api.createCompany(name);
  const link = await api.linkUrl(company.id, locale ? { locale } : {});
  return { company, link };
}
