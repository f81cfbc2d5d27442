// "Skema": weekly recurring absences (add, edit, delete) and my current and future forwardings.
import { html, useState } from '../vendor/htm-preact.js';
import { t } from '../lib/i18n.js';
import { get, post, put, del } from '../lib/api.js';
import { ReasonSelect, errorText, toast, useLoad, minutesToTime, timeToMinutes } from './common.js';
import { AbsenceList, AbsenceForm, DestinationFields, destinationBody, destinationValue, useDestinations, useMyAbsences } from './forward.js';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** "Mon, Wed" from the bitmask (bit 0 = Monday). */
export function daysText(bits) {
  return DAYS.filter((_, i) => bits & (1 << i)).map((d) => t(`day.${d}`)).join(', ');
}

function ScheduleForm({ initial, onSubmit, onCancel }) {
  const dests = useDestinations();
  const [days, setDays] = useState(initial ? initial.weekdays : 1);
  const [start, setStart] = useState(minutesToTime(initial ? initial.start : 540));
  const [end, setEnd] = useState(minutesToTime(initial ? initial.end : 600));
  const [reason, setReason] = useState(initial ? initial.reason : 'meeting');
  const [dest, setDest] = useState(destinationValue(initial?.destination));
  const [text, setText] = useState(initial?.free_text || '');
  const [error, setError] = useState('');
  const submit = async (e) => {
    e.preventDefault();
    setError('');
    if (!days) { setError(t('sch.need_day')); return; }
    const body = { weekdays: days, start: timeToMinutes(start), end: end === '00:00' ? 1440 : timeToMinutes(end), reason, destination: destinationBody(dest) };
    if (text.trim()) body.free_text = text.trim();
    try { await onSubmit(body); } catch (err) { setError(errorText(err)); }
  };
  return html`<form onSubmit=${submit} data-testid="schedule-form">
    <fieldset><legend>${t('sch.days')}</legend>
      ${DAYS.map((d, i) => html`<span class="check"><input type="checkbox" id=${`sch-${d}`} checked=${!!(days & (1 << i))}
        onChange=${(e) => setDays(e.target.checked ? days | (1 << i) : days & ~(1 << i))} /><label for=${`sch-${d}`}>${t(`day.${d}`)}</label></span>`)}
    </fieldset>
    <div class="grid2">
      <div><label for="sch-start">${t('sch.start')}</label><input id="sch-start" type="time" value=${start} onInput=${(e) => setStart(e.target.value)} /></div>
      <div><label for="sch-end">${t('sch.end')}</label><input id="sch-end" type="time" value=${end} onInput=${(e) => setEnd(e.target.value)} /></div>
    </div>
    <label for="sch-reason">${t('fwd.reason')}</label>
    <${ReasonSelect} id="sch-reason" value=${reason} onChange=${setReason} />
    <${DestinationFields} idp="sch" value=${dest} onChange=${setDest} dests=${dests} />
    <label for="sch-text">${t('fwd.free_text')}</label>
    <input id="sch-text" type="text" maxlength="200" value=${text} onInput=${(e) => setText(e.target.value)} />
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="row"><button class="primary" type="submit">${t('common.save')}</button>
      ${onCancel && html`<button type="button" onClick=${onCancel}>${t('common.cancel')}</button>`}</div>
  </form>`;
}

export function Schedule({ me }) {
  const [schedules, error, reload] = useLoad(() => get('/me/schedules'), []);
  const [absences, reloadAbs] = useMyAbsences(me);
  const [editing, setEditing] = useState(null);
  const [editingAbs, setEditingAbs] = useState(null);
  const [formKey, setFormKey] = useState(0);
  const save = async (body) => {
    if (editing) await put(`/me/schedules/${editing.id}`, body); else await post('/me/schedules', body);
    toast(t('sch.saved'));
    setEditing(null); setFormKey((k) => k + 1); reload();
  };
  const remove = async (s) => { try { await del(`/me/schedules/${s.id}`); reload(); } catch (e) { toast(errorText(e), 'error'); } };
  const saveAbs = async (body) => { await put(`/me/absences/${editingAbs.id}`, body); setEditingAbs(null); reloadAbs(); };
  const removeAbs = async (a) => { try { await del(`/me/absences/${a.id}`); reloadAbs(); } catch (e) { toast(errorText(e), 'error'); } };
  return html`<div>
    <section class="panel" aria-labelledby="sch-h">
      <h1 id="sch-h">${t('sch.title')}</h1>
      ${error && html`<p class="error">${errorText(error)}</p>`}
      ${schedules && schedules.length === 0 && html`<p class="note">${t('sch.none')}</p>`}
      <ul class="list" data-testid="schedules">${(schedules || []).map((s) => html`<li key=${s.id}>
        <div class="grow"><div class="name">${daysText(s.weekdays)} ${minutesToTime(s.start)}–${minutesToTime(s.end % 1440)}</div>
          <div class="note">${t(`reason.${s.reason}`)} · ${t(`dest.${s.destination.kind}`)}${s.destination.number ? ` ${s.destination.number}` : ''}
            ${s.free_text ? ` · “${s.free_text}”` : ''}</div></div>
        <div class="row"><button type="button" onClick=${() => setEditing(s)}>${t('common.edit')}</button>
          <button type="button" class="danger" onClick=${() => remove(s)}>${t('common.delete')}</button></div>
      </li>`)}</ul>
      <h2>${editing ? t('sch.edit') : t('sch.add')}</h2>
      <${ScheduleForm} key=${editing ? `e${editing.id}` : `n${formKey}`} initial=${editing} onSubmit=${save}
        onCancel=${editing ? () => setEditing(null) : null} />
    </section>
    <section class="panel" aria-labelledby="sch-abs-h">
      <h2 id="sch-abs-h">${t('sch.forwardings')}</h2>
      ${editingAbs && html`<${AbsenceForm} idp="sabs" key=${editingAbs.id} initial=${editingAbs} onSubmit=${saveAbs}
        onCancel=${() => setEditingAbs(null)} />`}
      <${AbsenceList} absences=${absences} onEdit=${setEditingAbs} onDelete=${removeAbs} />
    </section>
  </div>`;
}
