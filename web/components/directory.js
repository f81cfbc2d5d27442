// The directory (issue #23): the organisation's shared phonebook (everyone reads and searches
// it; receptionists add, change, remove and import vCard/CSV with a report of the rejected
// records), the source marks beside names, and click-to-call from any page: the browser's
// tel:/sip: handler route (/dial?uri=…) that asks before it calls.
import { html, useState, useEffect } from '../vendor/htm-preact.js';
import { t } from '../lib/i18n.js';
import { get, post, put, del, api } from '../lib/api.js';
import { Phone, errorText, toast, useLoad } from './common.js';

/** "Colleague" / "My contact" / "Shared" / "Directory" beside a name. */
export function SourceMark({ source }) {
  if (!source) return null;
  return html`<span class=${`source src-${source}`} data-source=${source}>${t(`src.${source}`)}</span>`;
}

/** A shared contact's numbers, each calling when clicked. */
function Numbers({ c }) {
  return html`${c.numbers.map((n) => html`<span class="num-kind">${t(`nkind.${n.kind}`)}:
    <${Phone} number=${n.number} label=${c.name} /></span>`)}`;
}

/** One shared contact in a list (search results, the phonebook). */
export function SharedContactRow({ c, actions }) {
  return html`<li data-shared=${c.id} class="shared-contact"><div class="grow">
    <div><span class="name">${c.name}</span> <${SourceMark} source="shared" /></div>
    ${c.company && html`<div class="note">${c.company}</div>`}
    <div class="row note"><${Numbers} c=${c} />${c.email && html`<a href=${`mailto:${c.email}`}>${c.email}</a>`}</div>
    ${c.note && html`<div class="note">${c.note}</div>`}
  </div>${actions}</li>`;
}

function SharedForm({ initial, onSave, onCancel }) {
  const first = initial && initial.numbers[0];
  const [v, setV] = useState({
    name: initial?.name || '', company: initial?.company || '', email: initial?.email || '',
    note: initial?.note || '', number: first?.number || '', kind: first?.kind || 'work',
  });
  const [error, setError] = useState('');
  const idp = initial ? `sc-${initial.id}` : 'sc-new';
  const submit = async (e) => {
    e.preventDefault(); setError('');
    const numbers = [{ kind: v.kind, number: v.number.trim() }, ...((initial && initial.numbers.slice(1)) || [])];
    const body = { name: v.name.trim(), numbers };
    for (const f of ['company', 'email', 'note']) if (v[f].trim()) body[f] = v[f].trim();
    try { await onSave(body); } catch (err) { setError(errorText(err)); }
  };
  const field = (f, type) => html`<div><label for=${`${idp}-${f}`}>${t(`sc.${f}`)}</label>
    <input id=${`${idp}-${f}`} type=${type} required=${f === 'name' || f === 'number'} value=${v[f]}
      onInput=${(e) => setV({ ...v, [f]: e.target.value })} /></div>`;
  return html`<form onSubmit=${submit} class="grow">
    <div class="grid2">${field('name', 'text')}${field('company', 'text')}${field('number', 'tel')}
      <div><label for=${`${idp}-kind`}>${t('sc.kind')}</label><select id=${`${idp}-kind`} value=${v.kind}
        onChange=${(e) => setV({ ...v, kind: e.target.value })}>${['work', 'mobile', 'home', 'other']
          .map((k) => html`<option value=${k}>${t(`nkind.${k}`)}</option>`)}</select></div>
      ${field('email', 'email')}${field('note', 'text')}</div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="row"><button class="primary" type="submit">${t('common.save')}</button>
      ${onCancel && html`<button type="button" onClick=${onCancel}>${t('common.cancel')}</button>`}</div>
  </form>`;
}

/** The shared phonebook section of the phonebook page. */
export function SharedContacts({ me, navigate }) {
  const [q, setQ] = useState('');
  const [list, error, reload] = useLoad(() => get(q.trim() ? `/shared-contacts?q=${encodeURIComponent(q.trim())}` : '/shared-contacts'), [q]);
  const [editing, setEditing] = useState(null);
  const [adding, setAdding] = useState(false);
  const isRec = me.role === 'receptionist';
  const remove = async (c) => { try { await del(`/shared-contacts/${c.id}`); reload(); } catch (e) { toast(errorText(e), 'error'); } };
  return html`<section class="panel" aria-labelledby="sc-h" data-testid="shared-contacts">
    <h2 id="sc-h">${t('sc.title')}</h2>
    <label for="sc-search">${t('sc.search')}</label>
    <input id="sc-search" type="search" value=${q} onInput=${(e) => setQ(e.target.value)} autocomplete="off" />
    ${error && html`<p class="error">${errorText(error)}</p>`}
    ${list && list.length === 0 && html`<p class="note">${t('sc.none')}</p>`}
    <ul class="list">${(list || []).map((c) => (editing === c.id
      ? html`<li key=${c.id}><${SharedForm} initial=${c} onSave=${async (b) => { await put(`/shared-contacts/${c.id}`, b); setEditing(null); reload(); }}
          onCancel=${() => setEditing(null)} /></li>`
      : html`<${SharedContactRow} key=${c.id} c=${c} actions=${isRec && html`<div class="row">
          <button type="button" onClick=${() => setEditing(c.id)}>${t('common.edit')}</button>
          <button type="button" class="danger" onClick=${() => remove(c)}>${t('common.delete')}</button></div>`} />`))}</ul>
    ${isRec && html`<div class="row">
      ${adding ? '' : html`<button type="button" class="primary" onClick=${() => setAdding(true)}>${t('sc.new')}</button>`}
      <a class="button" href="/phonebook/import" onClick=${(e) => { e.preventDefault(); navigate('/phonebook/import'); }}>${t('sc.import')}</a></div>`}
    ${adding && html`<h3>${t('sc.new')}</h3><${SharedForm} onSave=${async (b) => { await post('/shared-contacts', b); setAdding(false); reload(); }}
      onCancel=${() => setAdding(false)} />`}
  </section>`;
}

/** Receptionists: upload a vCard or CSV export and read the report. */
export function ImportContacts({ me, navigate }) {
  const [file, setFile] = useState(null);
  const [mode, setMode] = useState('add');
  const [columns, setColumns] = useState('');
  const [report, setReport] = useState(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  if (me.role !== 'receptionist') return html`<p class="error">${t('err.receptionist_only')}</p>`;
  const submit = async (e) => {
    e.preventDefault(); setError(''); setReport(null);
    if (!file) return;
    const vcard = /\.vcf$/i.test(file.name) || /vcard/i.test(file.type);
    const blob = new Blob([await file.arrayBuffer()], { type: vcard ? 'text/vcard' : 'text/csv' });
    const params = new URLSearchParams({ mode });
    if (columns.trim()) params.set('columns', columns.trim());
    setBusy(true);
    try { setReport(await api('POST', `/shared-contacts/import?${params}`, blob)); } catch (err) { setError(errorText(err)); }
    setBusy(false);
  };
  return html`<section class="panel" aria-labelledby="imp-h">
    <h1 id="imp-h">${t('imp.title')}</h1>
    <p class="note">${t('imp.help')}</p>
    <form onSubmit=${submit}>
      <label for="imp-file">${t('imp.file')}</label>
      <input id="imp-file" type="file" accept=".vcf,.csv,text/vcard,text/csv" required onChange=${(e) => setFile(e.target.files[0] || null)} />
      <fieldset><legend>${t('imp.mode')}</legend>
        ${['add', 'replace'].map((m) => html`<span class="check"><input type="radio" name="imp-mode" id=${`imp-${m}`} checked=${mode === m}
          onChange=${() => setMode(m)} /><label for=${`imp-${m}`}>${t(`imp.${m}`)}</label></span>`)}</fieldset>
      <label for="imp-columns">${t('imp.columns')}</label>
      <input id="imp-columns" type="text" value=${columns} placeholder="name=Kunde;work=Tlf" onInput=${(e) => setColumns(e.target.value)} />
      <div class="row"><button class="primary" type="submit" disabled=${busy}>${t('imp.submit')}</button>
        <a class="button" href="/phonebook" onClick=${(e) => { e.preventDefault(); navigate('/phonebook'); }}>${t('imp.back')}</a></div>
    </form>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${report && html`<div data-testid="import-report" role="status">
      <p>${t('imp.report', { records: report.records, added: report.added, duplicates: report.duplicates, removed: report.removed, rejected: report.rejected.length })}</p>
      ${report.rejected.length > 0 && html`<table class="report"><caption>${t('imp.rejected')}</caption>
        <thead><tr><th scope="col">${t('imp.line')}</th><th scope="col">${t('imp.record')}</th><th scope="col">${t('sc.name')}</th><th scope="col">${t('imp.reason')}</th></tr></thead>
        <tbody>${report.rejected.map((r) => html`<tr data-code=${r.code}><td>${r.line}</td><td>${r.record}</td><td>${r.name || ''}</td>
          <td>${t(`imp.code.${r.code}`)}${r.code === 'bad_number' || r.code === 'unreadable' ? html` <span class="note">(${r.reason})</span>` : ''}</td></tr>`)}</tbody></table>`}
    </div>`}
  </section>`;
}

/** The number in a tel:, sip: or web+sip: URI: parameters go; for sip: the user part. */
export function numberFromUri(uri) {
  let s = (uri || '').trim();
  try { s = decodeURIComponent(s); } catch { /* already decoded */ }
  s = s.replace(/^(web\+sip|sips?|tel):(\/\/)?/i, '');
  s = s.split(';')[0].split('?')[0];
  if (s.includes('@')) s = s.split('@')[0];
  // RFC 3966 §5.1.1 visual separators and spaces are layout; "+45…" is E.164, which the
  // server stores as digits without "+" (so a colleague's OneNumber is recognised as theirs).
  s = s.replace(/[\s\-.()]/g, '');
  return s.replace(/^\+/, '');
}

/** /dial?uri=tel:…: where the browser's protocol handler lands. Asks, then calls. */
export function Dial({ navigate }) {
  const number = numberFromUri(new URLSearchParams(location.search).get('uri'));
  const [state, setState] = useState('ask');
  const [error, setError] = useState('');
  const [who] = useLoad(() => (number ? get(`/names?number=${encodeURIComponent(number)}`) : Promise.resolve(null)), [number]);
  const shown = who && who.name ? `${who.name} (${number})` : number;
  const call = async () => {
    setState('calling');
    try {
      const r = await post('/calls', { to: number });
      setState(`started:${r.id}`);
    } catch (e) { setError(errorText(e)); setState('failed'); }
  };
  return html`<section class="panel" aria-labelledby="dial-h" data-testid="dial">
    <h1 id="dial-h">${t('dial.title')}</h1>
    ${!number ? html`<p class="error">${t('dial.no_number')}</p>` : html`
      <p>${t('dial.ask', { number: shown })} ${who && who.name && html`<${SourceMark} source=${who.source} />`}</p>
      ${state === 'ask' && html`<div class="row"><button type="button" class="primary" data-action="dial" onClick=${call}>${t('dial.call')}</button>
        <button type="button" onClick=${() => navigate('/colleagues')}>${t('common.cancel')}</button></div>`}
      ${state.startsWith('started') && html`<p role="status" data-testid="dial-started">${t('call.started', { number })}</p>`}
      ${state === 'failed' && html`<p class="error" role="alert">${t('call.failed', { reason: error })}</p>`}`}
  </section>`;
}

/** Settings: make this web client the browser's handler for tel: and sip: links. */
export function ClickToCallHandler() {
  const supported = typeof navigator.registerProtocolHandler === 'function';
  const [done, setDone] = useState([]);
  const register = () => {
    const ok = [];
    // tel and sip are on the HTML standard's safelist; web+sip is ours to name.
    for (const scheme of ['tel', 'sip', 'web+sip']) {
      try { navigator.registerProtocolHandler(scheme, `${location.origin}/dial?uri=%s`); ok.push(scheme); } catch { /* not allowed here */ }
    }
    setDone(ok);
    toast(t('dial.registered', { schemes: ok.join(', ') }));
  };
  return html`<section class="panel" aria-labelledby="c2c-h"><h2 id="c2c-h">${t('dial.handler')}</h2>
    <p class="note">${t('dial.handler_help')}</p>
    ${supported ? html`<button type="button" data-action="register-tel" onClick=${register}>${t('dial.register')}</button>`
      : html`<p class="note">${t('dial.unsupported')}</p>`}
    ${done.length > 0 && html`<p class="note" data-testid="handler-registered">${done.join(', ')}</p>`}
  </section>`;
}

/** Settings: where messages play, and the e-mail link apart from the attachment. */
export function VoicemailDelivery() {
  const [d, error, reload] = useLoad(() => get('/me/voicemail-delivery'), []);
  if (error) return html`<p class="error">${errorText(error)}</p>`;
  if (!d) return null;
  const set = async (p) => { try { await api('PATCH', '/me/voicemail-delivery', p); reload(); toast(t('common.saved')); } catch (e) { toast(errorText(e), 'error'); } };
  return html`<section class="panel" aria-labelledby="vd-h"><h2 id="vd-h">${t('vd.title')}</h2>
    <label for="vd-player">${t('vd.player')}</label>
    <select id="vd-player" value=${d.player} onChange=${(e) => set({ player: e.target.value })}>
      ${['web', 'external'].map((p) => html`<option value=${p}>${t(`vd.player_${p}`)}</option>`)}</select>
    <div class="check"><input type="checkbox" id="vd-link" checked=${d.email_link} onChange=${(e) => set({ email_link: e.target.checked })} />
      <label for="vd-link">${t('vd.email_link')}</label></div>
  </section>`;
}

/** The user's player choice, for the voicemail list. */
export function usePlayer() {
  const [player, setPlayer] = useState('web');
  useEffect(() => { get('/me/voicemail-delivery').then((d) => setPlayer(d.player), () => {}); }, []);
  return player;
}
