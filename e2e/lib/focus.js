// Keyboard-only helpers: Tab until an element has focus, checking that every element reached
// shows a visible focus indicator (a computed outline of at least 2 px, or a box-shadow).
import { expect } from '@playwright/test';

export async function focusState(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const cs = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    return {
      element: `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : ''} "${(el.textContent || el.value || '').trim().slice(0, 40)}"`,
      outlineStyle: cs.outlineStyle,
      outlineWidth: parseFloat(cs.outlineWidth) || 0,
      outlineColor: cs.outlineColor,
      boxShadow: cs.boxShadow,
      inViewport: r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth && r.width > 0 && r.height > 0,
    };
  });
}

export function isVisibleFocus(s) {
  return !!s && s.inViewport && ((s.outlineStyle !== 'none' && s.outlineWidth >= 2) || (s.boxShadow && s.boxShadow !== 'none'));
}

/** Presses Tab (at most `max` times) until `target` has focus; each stop must show its focus. */
export async function tabTo(page, target, { max = 60 } = {}) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const s = await focusState(page);
    if (s) expect(isVisibleFocus(s), `visible focus on ${s.element}: ${JSON.stringify(s)}`).toBe(true);
    if (await target.evaluate((el) => el === document.activeElement).catch(() => false)) return;
  }
  throw new Error(`could not reach ${target} with ${max} presses of Tab`);
}
