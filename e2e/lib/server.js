// A private `accord demo` for tests that change tenant-wide settings (the hostile-copy test),
// so the shared server's other tests never see them. Same binary run.sh uses.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ACCORD_BIN } from './env.js';

/** `env`: extra ACCORD_* settings for this demo only (e.g. a short link lifetime). */
export async function startPrivateDemo({ env: extra = {} } = {}) {
  if (!ACCORD_BIN) throw new Error('E2E_ACCORD_BIN is not set: run the suite through e2e/run.sh');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'accord-e2e-private-'));
  // Only the demo's own flags: no ACCORD_* variable leaks in from the test environment.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ACCORD_')));
  const child = spawn(ACCORD_BIN, ['demo', '--port', '0', '--data-dir', path.join(dir, 'data')], {
    env: { ...env, ...extra, ACCORD_LOG__FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => { const t = setTimeout(() => { child.kill('SIGKILL'); r(); }, 5000); child.once('exit', () => { clearTimeout(t); r(); }); });
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  while (!/^Link URL: /m.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`accord demo did not start:\n${out}\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const linkUrl = /^Link URL: (\S+)/m.exec(out)[1];
  return {
    baseUrl: new URL(linkUrl).origin,
    apiKey: /^Tenant API key \(shown once\): (\S+)/m.exec(out)[1],
    linkUrl,
    /** The demo's data directory (its SQLite database), for the CLI to act on. */
    dataDir: path.join(dir, 'data'),
    log: () => err,
    stop,
  };
}
