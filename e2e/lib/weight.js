// What each step weighs, as the browser measured it (DevTools protocol): every request made
// while the step loads (redirects included), the bytes it transferred on the wire
// (`Network.loadingFinished.encodedDataLength`: headers + body as sent, compressed or not),
// and the document's own body as transferred. The browser cache is disabled, so every step is
// measured as if it were the first page the customer opens (the stylesheet, script and marks
// count every time).

export const BUDGET = { total: 30 * 1024, html: 14 * 1024 };

export async function startMeter(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  let requests = new Map();
  const get = (id) => {
    if (!requests.has(id)) requests.set(id, { hops: [], total: 0, done: false });
    return requests.get(id);
  };
  cdp.on('Network.requestWillBeSent', (e) => {
    const r = get(e.requestId);
    if (e.redirectResponse) {
      // A redirect hop: its bytes were received under the same request id.
      r.hops.push({ url: r.url, status: e.redirectResponse.status, bytes: e.redirectResponse.encodedDataLength });
    }
    r.url = e.request.url;
    r.method = e.request.method;
    r.type = e.type;
  });
  cdp.on('Network.responseReceived', (e) => {
    const r = get(e.requestId);
    r.id = e.requestId;
    r.status = e.response.status;
    r.headerBytes = e.response.encodedDataLength;
    r.encoding = e.response.headers['content-encoding'] || e.response.headers['Content-Encoding'] || '';
    r.mime = e.response.mimeType;
    r.fromCache = e.response.fromDiskCache || e.response.fromPrefetchCache;
  });
  cdp.on('Network.loadingFinished', (e) => {
    const r = get(e.requestId);
    r.total = e.encodedDataLength;
    r.done = true;
  });
  cdp.on('Network.loadingFailed', (e) => {
    const r = get(e.requestId);
    r.failed = e.errorText;
    r.done = true;
  });

  return {
    /** Runs `action` (which loads the step) and returns the step's figures. */
    async measure(name, action) {
      requests = new Map();
      await action();
      await page.waitForLoadState('load');
      const deadline = Date.now() + 5000;
      while ([...requests.values()].some((r) => !r.done) && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 25));
      }
      // Only requests this step started: a late event of the previous step's requests (a
      // `loadingFinished` after the map was reset) leaves an entry without a URL.
      const list = [...requests.values()].filter((r) => r.url);
      const doc = list.filter((r) => r.type === 'Document' && r.done && !r.failed).pop();
      let decoded = 0;
      if (doc) {
        const b = await cdp.send('Network.getResponseBody', { requestId: doc.id }).catch(() => null);
        if (b) decoded = b.base64Encoded ? Buffer.from(b.body, 'base64').length : Buffer.byteLength(b.body, 'utf8');
      }
      const hopBytes = list.reduce((n, r) => n + r.hops.reduce((m, h) => m + (h.bytes || 0), 0), 0);
      return {
        step: name,
        url: doc ? new URL(doc.url).pathname : '?',
        status: doc?.status,
        requests: list.length + list.reduce((n, r) => n + r.hops.length, 0),
        total: list.reduce((n, r) => n + (r.total || 0), 0) + hopBytes,
        html: doc ? doc.total - (doc.headerBytes || 0) : 0,
        htmlEncoding: doc?.encoding || 'identity',
        htmlDecoded: decoded,
        redirects: list.flatMap((r) => r.hops.map((h) => `${h.status} ${new URL(h.url).pathname.replace(/[A-Za-z0-9_-]{43}$/, '{token}')}`)),
        urls: list.map((r) => r.url),
        pending: list.filter((r) => !r.done).map((r) => r.url),
      };
    },
    async stop() {
      await cdp.detach().catch(() => {});
    },
  };
}

export function formatTable(rows) {
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  const head = ['step', 'status', 'requests', 'total', 'html as sent', 'encoding', 'html decoded'];
  const body = rows.map((r) => [r.step, String(r.status), String(r.requests), kb(r.total), kb(r.html), r.htmlEncoding, kb(r.htmlDecoded)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
