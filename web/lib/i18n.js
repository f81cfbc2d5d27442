// Message catalogues: one per language (i18n/da.js, sv.js, en.js), Danish by default. Every
// text the client shows comes from here; components call t('key', {param}).
import da from '../i18n/da.js';
import sv from '../i18n/sv.js';
import en from '../i18n/en.js';

export const LANGS = { da, sv, en };
let current = 'da';
const listeners = new Set();

/** The language in use. */
export function lang() { return current; }

/** Switches language (unknown codes fall back to Danish) and re-renders subscribers. */
export function setLang(code) {
  current = LANGS[code] ? code : 'da';
  document.documentElement.lang = current;
  listeners.forEach((f) => f(current));
}

/** Calls f on every language switch. */
export function onLang(f) { listeners.add(f); return () => listeners.delete(f); }

/** The text for key, with {name} placeholders filled; a missing key shows itself. */
export function t(key, params) {
  const text = LANGS[current][key] ?? LANGS.da[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (_, k) => (params[k] ?? ''));
}

const locales = { da: 'da-DK', sv: 'sv-SE', en: 'en-GB' };

/** A date and time in the user's language, short. */
export function fmtDateTime(iso) {
  if (!iso) return '';
  return new Date(iso).toLocaleString(locales[current], { dateStyle: 'short', timeStyle: 'short' });
}

/** A time of day, or date and time when not today. */
export function fmtWhen(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const today = new Date();
  if (d.toDateString() === today.toDateString()) {
    return d.toLocaleTimeString(locales[current], { hour: '2-digit', minute: '2-digit' });
  }
  return fmtDateTime(iso);
}

/** A day heading (weekday and date). */
export function fmtDay(d) {
  return d.toLocaleDateString(locales[current], { weekday: 'short', day: 'numeric', month: 'short' });
}

/** Seconds as m:ss. */
export function fmtDuration(ms) {
  const s = Math.round((ms || 0) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
