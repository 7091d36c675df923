// What run.sh passes in: the running `accord demo` and its tenant API key.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function required(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run the suite through e2e/run.sh, which starts \`accord demo\``);
  }
  return v;
}

export const BASE_URL = required('E2E_BASE_URL');
export const API_KEY = required('E2E_API_KEY');
export const LOG_FILE = process.env.E2E_LOG_FILE || '';
export const ACCORD_BIN = process.env.E2E_ACCORD_BIN || '';
export const ORIGIN = new URL(BASE_URL).origin;

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = path.resolve(E2E_DIR, '..');
export const SCREENSHOT_DIR = path.join(REPO_DIR, 'docs', 'screenshots');

export const LANGS = ['en', 'fr'];
export const COMPANY_NAME = 'Bluebell Bakery Ltd';
