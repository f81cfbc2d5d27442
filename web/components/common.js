// Small pieces every screen uses: click-to-call numbers, a colleague's status line, the
// live-region toast, and form helpers.
import { html, useState, useEffect } from '../vendor/htm-preact.js';
import { t, fmtWhen } from '../lib/i18n.js';
import { post } from '../lib/api.js';

const toastListeners = new Set();
/** Shows a short message in the page's live region (screen readers announce it). */
export function toast(text, kind = 'info') { toastListeners.forEach((f) => f({ text, kind, at: Date.now() })); }

/** The live region the toasts appear in. */
export function Toasts() {
  const [msg, setMsg] = useState(null);
  useEffect(() => {
    const f = (m) => setMsg(m);
    toastListeners.add(f);
    return () => toastListeners.delete(f);
  }, []);
  useEffect(() => {
    if (!msg) return undefined;
    const id = setTimeout(() => setMsg(null), 5000);
    return () => clearTimeout(id);
  }, [msg]);
  return html`<div class="toast-area" role="status" aria-live="polite">
    ${msg && html`<div class=${msg.kind === 'error' ? 'toast error' : 'toast'}>${msg.text}</div>`}
  </div>`;
}

/** The text of a failed request, for a form. */
export function errorText(e) {
  if (!e) return '';
  const known = e.code && t(`err.${e.code}`);
  const base = known && known !== `err.${e.code}` ? known : e.message;
  return e.field ? `${base} (${e.field})` : base;
}

/** A number that calls when clicked: rings my desk phone, then connects it (click-to-call). */
export function Phone({ number, label }) {
  if (!number) return null;
  const call = async () => {
    try {
      await post('/calls', { to: number });
      toast(t('call.started', { number }));
    } catch (e) {
      toast(t('call.failed', { reason: errorText(e) }), 'error');
    }
  };
  return html`<button type="button" class="link num" onClick=${call}
    aria-label=${t('call.aria', { number: label ? `${label} ${number}` : number })}>${number}</button>`;
}

/** "until 14:30" / "until further notice". */
export function untilText(until) {
  return until ? t('status.until', { when: fmtWhen(until) }) : t('status.further_notice');
}

/** A colleague's presence: available, on the phone, or absent with reason, until, text, origin. */
export function StatusLine({ presence, showNote }) {
  if (!presence) return null;
  const s = presence.status;
  const a = presence.absence;
  return html`<div class=${`status st-${s}`}>
    <span class="dot" aria-hidden="true"></span>
    <span>
      <strong>${t(`status.${s}`)}</strong>
      ${s === 'on_the_phone' && a && html` · ${t(`reason.${a.reason}`)}`}
      ${s === 'absent' && a && html`: ${t(`reason.${a.reason}`)}, ${untilText(a.until)}`}
      ${a && a.free_text && html` — “${a.free_text}”`}
      ${a && html`<span class="origin" title=${t('status.origin')}>${a.origin}</span>`}
      ${a && a.keep_phone_open && html` · ${t('status.phone_open')}`}
      ${showNote && a && a.receptionist_note && html`<div class="note">${t('status.reception_note')}: ${a.receptionist_note}</div>`}
    </span>
  </div>`;
}

/** Runs an async loader and re-runs it when deps change; returns [data, error, reload]. */
export function useLoad(loader, deps) {
  const [state, setState] = useState({ data: null, error: null });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    loader().then(
      (data) => live && setState({ data, error: null }),
      (error) => live && setState({ data: null, error }),
    );
    return () => { live = false; };
  }, [...deps, n]);
  return [state.data, state.error, () => setN((x) => x + 1)];
}

/** A labelled select of the reasons. */
export function ReasonSelect({ id, value, onChange }) {
  const reasons = ['lunch', 'break', 'meeting', 'sick', 'gone_for_today', 'holiday', 'out_of_office', 'custom'];
  return html`<select id=${id} value=${value} onChange=${(e) => onChange(e.target.value)}>
    ${reasons.map((r) => html`<option value=${r}>${t(`reason.${r}`)}</option>`)}
  </select>`;
}

/** datetime-local value (local time) of an ISO instant, and back. */
export function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const off = d.getTimezoneOffset() * 60000;
  return new Date(d.getTime() - off).toISOString().slice(0, 16);
}
export function fromLocalInput(v) { return v ? new Date(v).toISOString() : null; }

/** "09:30" from minutes of the day, and back. */
export function minutesToTime(m) { return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`; }
export function timeToMinutes(v) { const [h, m] = v.split(':').map(Number); return h * 60 + m; }
