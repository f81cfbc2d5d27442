// "Kalender": imported calendar entries (view, edit — origin becomes WEB — and delete) and the
// calendar sources (published ICS URLs) with their last sync and last error.
import { html, useState } from '../vendor/htm-preact.js';
import { t, fmtDateTime } from '../lib/i18n.js';
import { get, post, put, del } from '../lib/api.js';
import { errorText, toast, useLoad, toLocalInput, fromLocalInput } from './common.js';

const BUSY = ['free', 'tentative', 'busy', 'out_of_office', 'working_elsewhere'];

function EntryForm({ entry, onSave, onCancel }) {
  const [subject, setSubject] = useState(entry.subject);
  const [start, setStart] = useState(toLocalInput(entry.starts_at));
  const [end, setEnd] = useState(toLocalInput(entry.ends_at));
  const [busy, setBusy] = useState(entry.busy_status);
  const [error, setError] = useState('');
  const submit = async (e) => {
    e.preventDefault();
    try {
      await onSave({ subject, starts_at: fromLocalInput(start), ends_at: fromLocalInput(end), all_day: entry.all_day, busy_status: busy });
    } catch (err) { setError(errorText(err)); }
  };
  const id = `ce-${entry.id}`;
  return html`<form onSubmit=${submit} class="grow">
    <label for=${`${id}-s`}>${t('cal.subject')}</label>
    <input id=${`${id}-s`} type="text" value=${subject} onInput=${(e) => setSubject(e.target.value)} />
    <div class="grid2">
      <div><label for=${`${id}-a`}>${t('fwd.from')}</label><input id=${`${id}-a`} type="datetime-local" value=${start} onInput=${(e) => setStart(e.target.value)} /></div>
      <div><label for=${`${id}-b`}>${t('fwd.to')}</label><input id=${`${id}-b`} type="datetime-local" value=${end} onInput=${(e) => setEnd(e.target.value)} /></div>
    </div>
    <label for=${`${id}-busy`}>${t('cal.busy')}</label>
    <select id=${`${id}-busy`} value=${busy} onChange=${(e) => setBusy(e.target.value)}>
      ${BUSY.map((b) => html`<option value=${b}>${t(`busy.${b}`)}</option>`)}</select>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="row"><button class="primary" type="submit">${t('common.save')}</button>
      <button type="button" onClick=${onCancel}>${t('common.cancel')}</button></div>
  </form>`;
}

export function Calendar() {
  const [entries, error, reload] = useLoad(() => get('/me/calendar'), []);
  const [sources, srcErr, reloadSrc] = useLoad(() => get('/me/calendar/sources'), []);
  const [editing, setEditing] = useState(null);
  const [url, setUrl] = useState('');
  const [addErr, setAddErr] = useState('');
  const save = async (body) => { await put(`/me/calendar/${editing}`, body); setEditing(null); reload(); toast(t('common.saved')); };
  const remove = async (en) => { try { await del(`/me/calendar/${en.id}`); reload(); } catch (e) { toast(errorText(e), 'error'); } };
  const add = async (e) => {
    e.preventDefault(); setAddErr('');
    try { await post('/me/calendar/sources', { url: url.trim() }); setUrl(''); reloadSrc(); } catch (err) { setAddErr(errorText(err)); }
  };
  const visible = (entries || []).filter((en) => !en.user_deleted);
  return html`<div>
    <section class="panel" aria-labelledby="cal-h">
      <h1 id="cal-h">${t('cal.title')}</h1>
      ${error && html`<p class="error">${errorText(error)}</p>`}
      ${entries && visible.length === 0 && html`<p class="note">${t('cal.none')}</p>`}
      <ul class="list">${visible.map((en) => html`<li key=${en.id}>
        ${editing === en.id ? html`<${EntryForm} entry=${en} onSave=${save} onCancel=${() => setEditing(null)} />` : html`
          <div class="grow"><div class="name">${en.subject}</div>
            <div class="note">${fmtDateTime(en.starts_at)} – ${fmtDateTime(en.ends_at)} · ${t(`busy.${en.busy_status}`)}
              <span class="origin">${en.origin}</span></div></div>
          <div class="row"><button type="button" onClick=${() => setEditing(en.id)}>${t('common.edit')}</button>
            <button type="button" class="danger" onClick=${() => remove(en)}>${t('common.delete')}</button></div>`}
      </li>`)}</ul>
    </section>
    <section class="panel" aria-labelledby="src-h">
      <h2 id="src-h">${t('cal.sources')}</h2>
      ${srcErr && html`<p class="error">${errorText(srcErr)}</p>`}
      <ul class="list">${(sources || []).map((s) => html`<li key=${s.id}><div class="grow">
        <div class="name">${s.url}</div>
        <div class="note">${t('cal.last_sync')}: ${s.last_sync_at ? fmtDateTime(s.last_sync_at) : t('cal.never')}</div>
        ${s.last_error && html`<div class="error">${t('cal.last_error')}: ${s.last_error}</div>`}
      </div></li>`)}</ul>
      <form onSubmit=${add}>
        <label for="cal-url">${t('cal.add_url')}</label>
        <input id="cal-url" type="url" required placeholder="https://…/calendar.ics" value=${url} onInput=${(e) => setUrl(e.target.value)} />
        ${addErr && html`<p class="error" role="alert">${addErr}</p>`}
        <div class="row"><button class="primary" type="submit">${t('cal.add')}</button></div>
      </form>
    </section>
  </div>`;
}
