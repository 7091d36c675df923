// The product's own strings (locales/<lang>/accord.ftl), so tests assert what the customer
// reads without copying text. A small reader for the single-line messages the tests need.
import fs from 'node:fs';
import path from 'node:path';
import { REPO_DIR } from './env.js';

function load(lang) {
  const src = fs.readFileSync(path.join(REPO_DIR, 'locales', lang, 'accord.ftl'), 'utf8');
  const out = new Map();
  for (const line of src.split('\n')) {
    const m = /^(-?[a-z][a-z0-9-]*) = (.+)$/.exec(line);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

const bundles = { en: load('en'), fr: load('fr') };

/** The message `id` in `lang`, with `{ $name }` placeables filled from `args`. */
export function t(lang, id, args = {}) {
  const msg = bundles[lang].get(id);
  if (msg === undefined) throw new Error(`no single-line message ${id} in locales/${lang}/accord.ftl`);
  return msg.replace(/\{ *(\$?-?[a-z][a-z0-9-]*) *\}/g, (_, name) => {
    if (name.startsWith('$')) {
      const v = args[name.slice(1)];
      if (v === undefined) throw new Error(`message ${id} needs $${name.slice(1)}`);
      return String(v);
    }
    return t(lang, name, args); // a term such as { -brand }
  });
}
