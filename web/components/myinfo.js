// "Mine oplysninger": name, numbers, local number, e-mail, department, organisation and working
// hours; the editable ones can be changed.
import { html, useState } from '../vendor/htm-preact.js';
import { t } from '../lib/i18n.js';
import { patch } from '../lib/api.js';
import { errorText, toast, minutesToTime, timeToMinutes } from './common.js';
import { daysText } from './schedule.js';

export function MyInfo({ me, reload }) {
  const [v, setV] = useState({ mobile_number: me.mobile_number || '', email: me.email || '', department: me.department || '' });
  const [start, setStart] = useState(minutesToTime(me.working_hours.start));
  const [end, setEnd] = useState(minutesToTime(me.working_hours.end));
  const [error, setError] = useState('');
  const save = async (e) => {
    e.preventDefault(); setError('');
    const body = {};
    for (const f of ['mobile_number', 'email', 'department']) body[f] = v[f].trim() || null;
    body.working_hours = { start: timeToMinutes(start), end: timeToMinutes(end), days: me.working_hours.days };
    try { await patch('/me', body); toast(t('common.saved')); reload(); } catch (err) { setError(errorText(err)); }
  };
  const row = (k, val) => html`<tr><th scope="row">${t(k)}</th><td>${val}</td></tr>`;
  return html`<div>
    <section class="panel" aria-labelledby="me-h">
      <h1 id="me-h">${t('me.title')}</h1>
      <table><tbody>
        ${row('me.name', me.name)}${row('col.number', me.one_number)}${row('col.local', me.local_number)}
        ${row('col.mobile', me.mobile_number || '—')}${row('me.email', me.email || '—')}${row('me.department', me.department || '—')}
        ${row('me.organisation', `${me.organisation} (${me.customer_code})`)}
        ${row('me.role', t(`role.${me.role}`))}${me.initials && row('me.initials', me.initials)}
        ${row('me.hours', `${daysText(me.working_hours.days)} ${minutesToTime(me.working_hours.start)}–${minutesToTime(me.working_hours.end)}`)}
      </tbody></table>
    </section>
    <section class="panel" aria-labelledby="me-edit-h">
      <h2 id="me-edit-h">${t('me.edit')}</h2>
      <form onSubmit=${save}>
        <div class="grid2">
          <div><label for="me-mobile">${t('col.mobile')}</label><input id="me-mobile" type="tel" value=${v.mobile_number} onInput=${(e) => setV({ ...v, mobile_number: e.target.value })} /></div>
          <div><label for="me-email">${t('me.email')}</label><input id="me-email" type="email" value=${v.email} onInput=${(e) => setV({ ...v, email: e.target.value })} /></div>
          <div><label for="me-dept">${t('me.department')}</label><input id="me-dept" type="text" value=${v.department} onInput=${(e) => setV({ ...v, department: e.target.value })} /></div>
          <div></div>
          <div><label for="me-start">${t('me.hours_start')}</label><input id="me-start" type="time" value=${start} onInput=${(e) => setStart(e.target.value)} /></div>
          <div><label for="me-end">${t('me.hours_end')}</label><input id="me-end" type="time" value=${end} onInput=${(e) => setEnd(e.target.value)} /></div>
        </div>
        ${error && html`<p class="error" role="alert">${error}</p>`}
        <div class="row"><button class="primary" type="submit">${t('common.save')}</button></div>
      </form>
    </section>
  </div>`;
}
