// "Viderestil min telefon": the quick forwards (five defaults plus the user's own), "open my
// phone", the full absence form, and my current and future absences. The absence form is
// shared with the schedule (edit) and the receptionist board (set for a colleague).
import { html, useState, useEffect } from '../vendor/htm-preact.js';
import { t, fmtDateTime } from '../lib/i18n.js';
import { get, post, put, del } from '../lib/api.js';
import { subscribe } from '../lib/live.js';
import { ReasonSelect, errorText, toast, toLocalInput, fromLocalInput, useLoad, untilText } from './common.js';

/** The quick-forward buttons and "open my phone". */
export function QuickForwards({ navigate }) {
  const [list, error] = useLoad(() => get('/me/quick-forwards'), []);
  const apply = async (q) => {
    try { await post(`/me/quick-forwards/${q.id}/apply`); toast(t('fwd.applied', { label: label(q) })); }
    catch (e) { toast(errorText(e), 'error'); }
  };
  const open = async () => {
    try { await post('/me/open-phone'); toast(t('fwd.opened')); } catch (e) { toast(errorText(e), 'error'); }
  };
  return html`<section class="panel" aria-labelledby="qf-h">
    <h2 id="qf-h">${t('fwd.quick')}</h2>
    ${error && html`<p class="error">${errorText(error)}</p>`}
    <div class="quick">
      ${(list || []).map((q) => html`<button type="button" data-quick=${q.is_default ? q.reason + ':' + (q.duration.minutes || 'eod') : q.label}
        onClick=${() => apply(q)}>${label(q)}</button>`)}
      <button type="button" class="primary" data-testid="open-phone" onClick=${open}>${t('fwd.open_phone')}</button>
    </div>
    ${navigate && html`<p><a href="/forward" onClick=${(e) => { e.preventDefault(); navigate('/forward'); }}>${t('fwd.more')}</a></p>`}
  </section>`;
}

/** A quick forward's label: the defaults are translated, the user's own shown as written. */
export function label(q) {
  if (!q.is_default) return q.label;
  const m = q.duration.minutes;
  if (q.reason === 'lunch') return t('qf.lunch');
  if (q.reason === 'break') return t('qf.break');
  if (q.reason === 'gone_for_today') return t('qf.gone');
  if (q.reason === 'meeting') return m >= 120 ? t('qf.meeting2') : t('qf.meeting1');
  return q.label;
}

/** Colleagues and saved destinations, for destination pickers. */
export function useDestinations() {
  const [colleagues] = useLoad(() => get('/colleagues?scope=internal').then((r) => r.colleagues), []);
  const [saved] = useLoad(() => get('/me/saved-destinations'), []);
  return { colleagues: colleagues || [], saved: saved || [] };
}

/** The destination fields: voicemail, a colleague, a saved destination, a number, or keep open. */
export function DestinationFields({ idp, value, onChange, dests }) {
  const mode = value.mode;
  const set = (patch) => onChange({ ...value, ...patch });
  const modes = ['voicemail', 'colleague', 'saved', 'number', 'open'];
  return html`<fieldset>
    <legend>${t('fwd.destination')}</legend>
    ${modes.map((m) => html`<div class="check"><input type="radio" id=${`${idp}-dm-${m}`} name=${`${idp}-dm`}
      checked=${mode === m} onChange=${() => set({ mode: m })} /><label for=${`${idp}-dm-${m}`}>${t(`dest.${m}`)}</label></div>`)}
    ${mode === 'colleague' && html`<label for=${`${idp}-col`}>${t('dest.colleague')}</label>
      <select id=${`${idp}-col`} value=${value.number} onChange=${(e) => set({ number: e.target.value })}>
        <option value="">—</option>
        ${dests.colleagues.map((c) => html`<option value=${c.one_number}>${c.name} (${c.local_number})</option>`)}
      </select>`}
    ${mode === 'saved' && html`<label for=${`${idp}-saved`}>${t('dest.saved')}</label>
      <select id=${`${idp}-saved`} value=${value.saved} onChange=${(e) => set({ saved: e.target.value })}>
        <option value="">—</option>
        ${dests.saved.map((s) => html`<option value=${s.id}>${s.label} (${s.number})</option>`)}
      </select>`}
    ${mode === 'number' && html`<label for=${`${idp}-num`}>${t('dest.number')}</label>
      <input id=${`${idp}-num`} type="tel" value=${value.number} onInput=${(e) => set({ number: e.target.value })} />`}
  </fieldset>`;
}

/** The API's destination object from the picker's value. */
export function destinationBody(v) {
  if (v.mode === 'voicemail' || v.mode === 'open') return { kind: v.mode };
  if (v.mode === 'saved') return { kind: 'number', saved_destination_id: Number(v.saved) };
  return { kind: 'number', number: (v.number || '').trim() };
}

/** The picker's value from a stored destination. */
export function destinationValue(d) {
  if (!d || d.kind !== 'number') return { mode: d ? d.kind : 'voicemail', number: '', saved: '' };
  return { mode: 'number', number: d.number || '', saved: '' };
}

/** The full absence form. */
export function AbsenceForm({ idp = 'abs', initial, onSubmit, onCancel, submitLabel, showNote = true }) {
  const dests = useDestinations();
  const [reason, setReason] = useState(initial?.reason || 'meeting');
  const [from, setFrom] = useState(toLocalInput(initial?.starts_at || new Date().toISOString()));
  const [furtherNotice, setFurther] = useState(initial ? !initial.ends_at : false);
  const [to, setTo] = useState(toLocalInput(initial?.ends_at || new Date(Date.now() + 3600e3).toISOString()));
  const [dest, setDest] = useState(destinationValue(initial?.destination));
  const [text, setText] = useState(initial?.free_text || '');
  const [note, setNote] = useState(initial?.receptionist_note || '');
  const [error, setError] = useState('');
  const submit = async (e) => {
    e.preventDefault();
    setError('');
    const body = { reason, from: fromLocalInput(from), to: furtherNotice ? null : fromLocalInput(to), destination: destinationBody(dest) };
    if (text.trim()) body.free_text = text.trim();
    if (showNote && note.trim()) body.receptionist_note = note.trim();
    try { await onSubmit(body); } catch (err) { setError(errorText(err)); }
  };
  return html`<form onSubmit=${submit} class="absence-form" data-testid=${`${idp}-form`}>
    <div class="grid2">
      <div><label for=${`${idp}-reason`}>${t('fwd.reason')}</label>
        <${ReasonSelect} id=${`${idp}-reason`} value=${reason} onChange=${setReason} /></div>
      <div></div>
      <div><label for=${`${idp}-from`}>${t('fwd.from')}</label>
        <input id=${`${idp}-from`} type="datetime-local" value=${from} onInput=${(e) => setFrom(e.target.value)} /></div>
      <div><label for=${`${idp}-to`}>${t('fwd.to')}</label>
        <input id=${`${idp}-to`} type="datetime-local" value=${to} disabled=${furtherNotice} onInput=${(e) => setTo(e.target.value)} /></div>
    </div>
    <div class="check"><input type="checkbox" id=${`${idp}-further`} checked=${furtherNotice}
      onChange=${(e) => setFurther(e.target.checked)} /><label for=${`${idp}-further`}>${t('fwd.further_notice')}</label></div>
    <${DestinationFields} idp=${idp} value=${dest} onChange=${setDest} dests=${dests} />
    <label for=${`${idp}-text`}>${t('fwd.free_text')}</label>
    <input id=${`${idp}-text`} type="text" maxlength="200" value=${text} onInput=${(e) => setText(e.target.value)} />
    ${showNote && html`<label for=${`${idp}-note`}>${t('fwd.reception_note')}</label>
      <input id=${`${idp}-note`} type="text" maxlength="200" value=${note} onInput=${(e) => setNote(e.target.value)} />
      <p class="note">${t('fwd.reception_note_help')}</p>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="row"><button class="primary" type="submit">${submitLabel || t('fwd.submit')}</button>
      ${onCancel && html`<button type="button" onClick=${onCancel}>${t('common.cancel')}</button>`}</div>
  </form>`;
}

/** A list of absences with edit and delete. */
export function AbsenceList({ absences, onEdit, onDelete }) {
  if (!absences || absences.length === 0) return html`<p class="note">${t('fwd.none')}</p>`;
  const now = Date.now();
  return html`<ul class="list" data-testid="absences">${absences.map((a) => {
    const current = new Date(a.starts_at).getTime() <= now;
    return html`<li key=${a.id}>
      <div class="grow">
        <div class=${current ? 'when-current' : 'when-future'}>${t(`reason.${a.reason}`)} · ${t(current ? 'when.current' : 'when.future')}</div>
        <div class="note">${fmtDateTime(a.starts_at)} – ${a.ends_at ? fmtDateTime(a.ends_at) : untilText(null)}
          · ${t(`dest.${a.destination.kind}`)}${a.destination.number ? ` ${a.destination.number}` : ''}
          <span class="origin">${a.origin}</span></div>
        ${a.free_text && html`<div>“${a.free_text}”</div>`}
      </div>
      <div class="row">
        ${onEdit && html`<button type="button" onClick=${() => onEdit(a)}>${t('common.edit')}</button>`}
        <button type="button" class="danger" onClick=${() => onDelete(a)}>${t('common.delete')}</button>
      </div>
    </li>`;
  })}</ul>`;
}

/** My absences, kept live. */
export function useMyAbsences(me) {
  const [list, , reload] = useLoad(() => get('/me/absences'), []);
  useEffect(() => subscribe((type, data) => {
    if (type === 'resync' || (type === 'availability' && data.user_id === me.id)) reload();
  }), []);
  return [list, reload];
}

export function Forward({ me, navigate }) {
  const [absences, reload] = useMyAbsences(me);
  const [editing, setEditing] = useState(null);
  const [formKey, setFormKey] = useState(0);
  const create = async (body) => {
    if (editing) await put(`/me/absences/${editing.id}`, body); else await post('/me/absences', body);
    toast(t('fwd.saved'));
    setEditing(null); setFormKey((k) => k + 1); reload();
  };
  const remove = async (a) => {
    try { await del(`/me/absences/${a.id}`); reload(); } catch (e) { toast(errorText(e), 'error'); }
  };
  return html`<div class="split">
    <aside><${QuickForwards} /></aside>
    <div>
      <section class="panel" aria-labelledby="fwd-h">
        <h1 id="fwd-h">${editing ? t('fwd.edit_title') : t('fwd.title')}</h1>
        <${AbsenceForm} key=${editing ? `e${editing.id}` : `n${formKey}`} initial=${editing} onSubmit=${create}
          onCancel=${editing ? () => setEditing(null) : null} />
      </section>
      <section class="panel" aria-labelledby="fwd-list-h">
        <h2 id="fwd-list-h">${t('fwd.mine')}</h2>
        <${AbsenceList} absences=${absences} onEdit=${(a) => { setEditing(a); window.scrollTo(0, 0); }} onDelete=${remove} />
      </section>
    </div>
  </div>`;
}
