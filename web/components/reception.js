// The receptionist's board: the live status of the whole organisation, filterable by name and
// status; set or end a colleague's absence (the origin becomes my initials), receptionist
// notes shown, and a message taken for a colleague.
import { html, useState } from '../vendor/htm-preact.js';
import { t } from '../lib/i18n.js';
import { get, post } from '../lib/api.js';
import { Phone, StatusLine, errorText, toast, useLoad } from './common.js';
import { useLiveColleagues } from './colleagues.js';
import { AbsenceForm } from './forward.js';
import { WriteMessage } from './messages.js';

/** Filters colleagues by a name/number fragment and a status; exported for the benchmark. */
export function filterBoard(list, text, status) {
  const q = text.trim().toLowerCase();
  return list.filter((c) => (status === 'all' || c.presence.status === status)
    && (!q || c.name.toLowerCase().includes(q) || c.local_number.includes(q) || (c.department || '').toLowerCase().includes(q)));
}

function BoardRow({ c, open, setOpen }) {
  const endAbsence = async () => {
    try { await post(`/users/${c.id}/open-phone`); toast(t('rec.ended', { name: c.name })); } catch (e) { toast(errorText(e), 'error'); }
  };
  const setAbsence = async (body) => {
    await post(`/users/${c.id}/absences`, body);
    toast(t('rec.set', { name: c.name })); setOpen(null);
  };
  return html`<tr data-user=${c.id}>
    <td><span class="name">${c.name}</span>${c.department && html`<div class="note">${c.department}</div>`}</td>
    <td><${Phone} number=${c.local_number} label=${c.name} /></td>
    <td><${StatusLine} presence=${c.presence} showNote=${true} />
      ${open && open.id === c.id && open.what === 'absence' && html`<div class="panel"><h2>${t('rec.set_for', { name: c.name })}</h2>
        <${AbsenceForm} idp=${`rec-${c.id}`} onSubmit=${setAbsence} onCancel=${() => setOpen(null)} submitLabel=${t('rec.set_button')} /></div>`}
      ${open && open.id === c.id && open.what === 'message' && html`<div class="panel"><h2>${t('rec.message_for', { name: c.name })}</h2>
        <${WriteMessage} idp=${`recmsg-${c.id}`} toUser=${c.id} onSent=${() => setOpen(null)} /></div>`}
    </td>
    <td><div class="row">
      <button type="button" data-action="set-absence" onClick=${() => setOpen({ id: c.id, what: "absence" })} aria-label=${`${t('rec.absence')}: ${c.name}`}>${t('rec.absence')}</button>
      ${c.presence.absence && html`<button type="button" onClick=${endAbsence} aria-label=${`${t('rec.end')}: ${c.name}`}>${t('rec.end')}</button>`}
      <button type="button" onClick=${() => setOpen({ id: c.id, what: 'message' })} aria-label=${`${t('rec.message')}: ${c.name}`}>${t('rec.message')}</button>
    </div></td>
  </tr>`;
}

/** Rows drawn at most before "show all": a board of thousands is read through the filter,
 * and drawing every row would make each keystroke wait for thousands of DOM updates. */
export const BOARD_ROWS = 200;

export function Reception() {
  const [all, error, reload] = useLoad(() => get('/colleagues?scope=internal&limit=5000').then((r) => r.colleagues), []);
  const list = useLiveColleagues(all, reload);
  const [text, setText] = useState('');
  const [status, setStatus] = useState('all');
  const [open, setOpen] = useState(null);
  const [all_, setAll] = useState(false);
  const matching = list ? filterBoard(list, text, status) : [];
  const shown = all_ ? matching : matching.slice(0, BOARD_ROWS);
  return html`<section class="panel" aria-labelledby="rec-h">
    <h1 id="rec-h">${t('rec.title')}</h1>
    <div class="grid2">
      <div><label for="rec-filter">${t('rec.filter')}</label>
        <input id="rec-filter" type="search" value=${text} onInput=${(e) => setText(e.target.value)} /></div>
      <div><label for="rec-status">${t('rec.status')}</label>
        <select id="rec-status" value=${status} onChange=${(e) => setStatus(e.target.value)}>
          ${['all', 'available', 'on_the_phone', 'absent'].map((s) => html`<option value=${s}>${s === 'all' ? t('scope.all') : t(`status.${s}`)}</option>`)}</select></div>
    </div>
    ${error && html`<p class="error">${errorText(error)}</p>`}
    ${list && html`<p class="note" role="status">${t('rec.count', { n: matching.length, total: list.length })}
      ${shown.length < matching.length && html` · ${t('rec.first', { n: shown.length })}
        <button type="button" class="link" onClick=${() => setAll(true)}>${t('rec.show_all')}</button>`}</p>`}
    <table class="board" data-testid="board" data-shown=${shown.length}><thead><tr><th scope="col">${t('rec.name')}</th><th scope="col">${t('col.local')}</th>
      <th scope="col">${t('rec.status')}</th><th scope="col">${t('rec.actions')}</th></tr></thead>
      <tbody>${shown.map((c) => html`<${BoardRow} key=${c.id} c=${c} open=${open} setOpen=${setOpen} />`)}</tbody></table>
  </section>`;
}
