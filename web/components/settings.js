// "Indstillinger": language, start page and default search scope; PIN change; voicemail
// options with own greeting and name (upload a file, or record in the browser); my own quick
// forwards and saved forwarding destinations; "log out everywhere"; for receptionists, the
// organisation's toll-fraud allow-list.
import { html, useState, useRef, useEffect } from '../vendor/htm-preact.js';
import { t, setLang } from '../lib/i18n.js';
import { get, post, put, patch, del } from '../lib/api.js';
import { errorText, toast, useLoad, ReasonSelect } from './common.js';
import { PinChange } from './login.js';
import { label as quickLabel, DestinationFields, destinationBody, useDestinations } from './forward.js';
import { encodeWav } from '../lib/wav.js';
import { ClickToCallHandler, VoicemailDelivery } from './directory.js';

function WebSettings({ settings, reload }) {
  const [v, setV] = useState({ lang: settings.lang, start_page: settings.start_page, search_scope: settings.search_scope });
  const [error, setError] = useState('');
  const save = async (e) => {
    e.preventDefault(); setError('');
    try { await patch('/me/settings', v); setLang(v.lang); toast(t('common.saved')); reload(); } catch (err) { setError(errorText(err)); }
  };
  const sel = (id, key, options, prefix) => html`<label for=${id}>${t(`set.${key}`)}</label>
    <select id=${id} value=${v[key]} onChange=${(e) => setV({ ...v, [key]: e.target.value })}>
      ${options.map((o) => html`<option value=${o}>${prefix ? t(`${prefix}.${o}`) : o}</option>`)}</select>`;
  return html`<section class="panel" aria-labelledby="set-web-h"><h2 id="set-web-h">${t('set.web')}</h2>
    <form onSubmit=${save} data-testid="web-settings">
      ${sel('set-lang', 'lang', ['da', 'sv', 'en'], 'langname')}
      ${sel('set-start', 'start_page', ['status', 'colleagues', 'forwarding', 'voicemail', 'calls', 'phonebook'], 'start')}
      ${sel('set-scope', 'search_scope', ['all', 'internal', 'external'], 'scope')}
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <div class="row"><button class="primary" type="submit">${t('common.save')}</button></div>
    </form></section>`;
}

/** Upload a file or record in the browser (WAV made here, as the server reads WAV). */
function Recording({ kind, present, onChange }) {
  const [recording, setRecording] = useState(false);
  const rec = useRef(null);
  const upload = async (blob) => {
    try { await put(`/me/voicemail/${kind}`, blob); toast(t('set.uploaded')); onChange(); } catch (e) { toast(errorText(e), 'error'); }
  };
  const start = async () => {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const ctx = new AudioContext();
      const src = ctx.createMediaStreamSource(stream);
      const node = ctx.createScriptProcessor(4096, 1, 1);
      const chunks = [];
      node.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
      src.connect(node); node.connect(ctx.destination);
      rec.current = { stream, ctx, node, chunks };
      setRecording(true);
    } catch (e) { toast(t('set.no_mic'), 'error'); }
  };
  const stop = async () => {
    const r = rec.current; rec.current = null; setRecording(false);
    if (!r) return;
    r.node.disconnect(); r.stream.getTracks().forEach((tr) => tr.stop());
    const rate = r.ctx.sampleRate; await r.ctx.close();
    await upload(encodeWav(r.chunks, rate));
  };
  const id = `rec-${kind}`;
  return html`<fieldset><legend>${t(`set.${kind}`)}</legend>
    ${present && html`<audio controls preload="none" src=${`/api/v1/me/voicemail/${kind}`} aria-label=${t(`set.${kind}`)}></audio>`}
    <label for=${`${id}-file`}>${t('set.upload')}</label>
    <input id=${`${id}-file`} type="file" accept="audio/wav,audio/x-wav,audio/flac,audio/ogg,audio/mpeg,.wav,.flac,.ogg,.mp3"
      onChange=${(e) => e.target.files[0] && upload(e.target.files[0])} />
    <div class="row">
      ${recording ? html`<button type="button" class="danger" onClick=${stop}>${t('set.stop')}</button>`
        : html`<button type="button" onClick=${start}>${t('set.record')}</button>`}
      ${present && html`<button type="button" class="danger" onClick=${async () => { await del(`/me/voicemail/${kind}`); onChange(); }}>${t('common.delete')}</button>`}
    </div></fieldset>`;
}

function VoicemailSettings() {
  const [vs, error, reload] = useLoad(() => get('/me/voicemail-settings'), []);
  const [saveErr, setSaveErr] = useState('');
  if (error) return html`<p class="error">${errorText(error)}</p>`;
  if (!vs) return null;
  const set = async (p) => { setSaveErr(''); try { await patch('/me/voicemail-settings', p); reload(); toast(t('common.saved')); } catch (e) { setSaveErr(errorText(e)); } };
  const check = (key) => html`<div class="check"><input type="checkbox" id=${`vs-${key}`} checked=${!!vs[key]}
    onChange=${(e) => set({ [key]: e.target.checked })} /><label for=${`vs-${key}`}>${t(`vs.${key}`)}</label></div>`;
  return html`<section class="panel" aria-labelledby="vs-h"><h2 id="vs-h">${t('vs.title')}</h2>
    <label for="vs-sec">${t('vs.secondary_lang')}</label>
    <select id="vs-sec" value=${vs.secondary_lang || ''} onChange=${(e) => set({ secondary_lang: e.target.value || null })}>
      <option value="">${t('vs.none')}</option>${['da', 'sv', 'en'].map((l) => html`<option value=${l}>${t(`langname.${l}`)}</option>`)}</select>
    ${check('allow_messages')}${check('receptionist_option')}
    <label for="vs-group">${t('vs.receptionist_group_number')}</label>
    <input id="vs-group" type="tel" value=${vs.receptionist_group_number || ''}
      onChange=${(e) => set({ receptionist_group_number: e.target.value.trim() || null })} />
    ${check('use_own_name')}${check('use_own_greeting')}${check('quick_listen')}
    <label for="vs-notify">${t('vs.notify_channel')}</label>
    <select id="vs-notify" value=${vs.notify_channel} onChange=${(e) => set({ notify_channel: e.target.value })}>
      ${['none', 'email', 'sms', 'both'].map((c) => html`<option value=${c}>${t(`notify.${c}`)}</option>`)}</select>
    ${check('attach_audio')}
    ${saveErr && html`<p class="error" role="alert">${saveErr}</p>`}
    <${Recording} kind="greeting" present=${vs.use_own_greeting} onChange=${reload} />
    <${Recording} kind="name" present=${vs.use_own_name} onChange=${reload} />
  </section>`;
}

function OwnQuickForwards() {
  const [list, , reload] = useLoad(() => get('/me/quick-forwards'), []);
  const dests = useDestinations();
  const [v, setV] = useState({ label: '', reason: 'custom', minutes: 60 });
  const [dest, setDest] = useState({ mode: 'voicemail', number: '', saved: '' });
  const [error, setError] = useState('');
  const add = async (e) => {
    e.preventDefault(); setError('');
    try {
      await post('/me/quick-forwards', { label: v.label.trim(), reason: v.reason, duration: { minutes: Number(v.minutes) }, destination: destinationBody(dest) });
      setV({ ...v, label: '' }); reload();
    } catch (err) { setError(errorText(err)); }
  };
  return html`<section class="panel" aria-labelledby="oqf-h"><h2 id="oqf-h">${t('set.quick')}</h2>
    <ul class="list">${(list || []).map((q) => html`<li key=${q.id}><div class="grow">${quickLabel(q)}</div>
      ${!q.is_default && html`<button type="button" class="danger" onClick=${async () => { await del(`/me/quick-forwards/${q.id}`); reload(); }}>${t('common.delete')}</button>`}</li>`)}</ul>
    <form onSubmit=${add}>
      <div class="grid2">
        <div><label for="oqf-label">${t('set.quick_label')}</label><input id="oqf-label" type="text" required maxlength="40" value=${v.label} onInput=${(e) => setV({ ...v, label: e.target.value })} /></div>
        <div><label for="oqf-min">${t('set.quick_minutes')}</label><input id="oqf-min" type="number" min="1" max="1440" value=${v.minutes} onInput=${(e) => setV({ ...v, minutes: e.target.value })} /></div>
      </div>
      <label for="oqf-reason">${t('fwd.reason')}</label><${ReasonSelect} id="oqf-reason" value=${v.reason} onChange=${(r) => setV({ ...v, reason: r })} />
      <${DestinationFields} idp="oqf" value=${dest} onChange=${setDest} dests=${dests} />
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <div class="row"><button type="submit">${t('set.quick_add')}</button></div>
    </form></section>`;
}

function SavedDestinations() {
  const [list, , reload] = useLoad(() => get('/me/saved-destinations'), []);
  const [v, setV] = useState({ label: '', kind: 'external', number: '' });
  const [error, setError] = useState('');
  const add = async (e) => {
    e.preventDefault(); setError('');
    try { await post('/me/saved-destinations', { label: v.label.trim(), kind: v.kind, number: v.number.trim() }); setV({ ...v, label: '', number: '' }); reload(); }
    catch (err) { setError(errorText(err)); }
  };
  return html`<section class="panel" aria-labelledby="sd-h"><h2 id="sd-h">${t('set.saved')}</h2>
    <ul class="list">${(list || []).map((s) => html`<li key=${s.id}><div class="grow">${s.label} · ${t(`sdkind.${s.kind}`)} · ${s.number}</div>
      <button type="button" class="danger" onClick=${async () => { await del(`/me/saved-destinations/${s.id}`); reload(); }}>${t('common.delete')}</button></li>`)}</ul>
    <form onSubmit=${add}><div class="grid2">
      <div><label for="sd-label">${t('set.quick_label')}</label><input id="sd-label" type="text" required value=${v.label} onInput=${(e) => setV({ ...v, label: e.target.value })} /></div>
      <div><label for="sd-kind">${t('set.saved_kind')}</label><select id="sd-kind" value=${v.kind} onChange=${(e) => setV({ ...v, kind: e.target.value })}>
        ${['group', 'colleague', 'external'].map((k) => html`<option value=${k}>${t(`sdkind.${k}`)}</option>`)}</select></div>
      <div><label for="sd-number">${t('dest.number')}</label><input id="sd-number" type="tel" required value=${v.number} onInput=${(e) => setV({ ...v, number: e.target.value })} /></div>
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="row"><button type="submit">${t('common.add')}</button></div></form></section>`;
}

/** Ends every session of mine, this one included, after asking; then back to the login. */
function LogoutEverywhere({ logout }) {
  const [asking, setAsking] = useState(false);
  const [error, setError] = useState('');
  const yes = useRef(null);
  const ask = useRef(null);
  useEffect(() => { if (asking) yes.current?.focus(); }, [asking]);
  const cancel = () => { setAsking(false); setTimeout(() => ask.current?.focus(), 0); };
  const go = async () => {
    setError('');
    try { await post('/logout-everywhere'); } catch (e) {
      if (e.status !== 401) { setError(errorText(e)); return; }
    }
    logout(true);
  };
  return html`<section class="panel" aria-labelledby="lo-all-h" data-testid="logout-everywhere">
    <h2 id="lo-all-h">${t('set.logout_all')}</h2>
    <p class="note" id="lo-all-help">${t('set.logout_all_help')}</p>
    ${asking
      ? html`<div role="group" aria-labelledby="lo-all-ask" class="confirm">
          <p id="lo-all-ask"><strong>${t('set.logout_all_ask')}</strong></p>
          <div class="row"><button type="button" class="danger" ref=${yes} data-action="confirm" onClick=${go}>${t('set.logout_all_yes')}</button>
          <button type="button" data-action="cancel" onClick=${cancel}>${t('common.cancel')}</button></div></div>`
      : html`<div class="row"><button type="button" class="danger" ref=${ask} data-action="logout-everywhere"
          aria-describedby="lo-all-help" onClick=${() => setAsking(true)}>${t('set.logout_all')}</button></div>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </section>`;
}

/** The organisation's toll-fraud policy, and its allow-list to change (receptionists). */
function TollFraud() {
  const [p, error, reload] = useLoad(() => get('/org/toll-fraud'), []);
  const [typed, setTyped] = useState(null);
  const [saveErr, setSaveErr] = useState('');
  if (error) return html`<p class="error">${errorText(error)}</p>`;
  if (!p) return null;
  const value = typed ?? p.allow_list.join(' ');
  const save = async (e) => {
    e.preventDefault(); setSaveErr('');
    try {
      await put('/org/toll-fraud', { allow_list: value.split(/[\s,;]+/).filter(Boolean) });
      setTyped(null); reload(); toast(t('common.saved'));
    } catch (err) { setSaveErr(errorText(err)); }
  };
  return html`<section class="panel" aria-labelledby="tf-h" data-testid="toll-fraud"><h2 id="tf-h">${t('tf.title')}</h2>
    <p>${t(p.external_calls_allowed ? 'tf.external_on' : 'tf.external_off')}</p>
    <table class="report"><caption>${t('tf.denied')}</caption>
      <thead><tr><th scope="col">${t('tf.prefix')}</th><th scope="col">${t('tf.category')}</th><th scope="col">${t('tf.state')}</th></tr></thead>
      <tbody>${p.deny_list.map((r) => html`<tr key=${r.prefix} data-prefix=${r.prefix}><td>${r.prefix}</td>
        <td>${t(`tf.cat.${r.category}`)}</td><td>${t(r.opened ? 'tf.opened' : 'tf.refused')}</td></tr>`)}</tbody></table>
    <form onSubmit=${save}>
      <label for="tf-allow">${t('tf.allow_list')}</label>
      <input id="tf-allow" type="text" inputmode="tel" autocomplete="off" aria-describedby="tf-allow-help" value=${value}
        onInput=${(e) => setTyped(e.target.value)} />
      <p class="note" id="tf-allow-help">${t('tf.allow_help')}</p>
      ${saveErr && html`<p class="error" role="alert">${saveErr}</p>`}
      <div class="row"><button class="primary" type="submit">${t('common.save')}</button></div>
    </form></section>`;
}

export function Settings({ settings, reload, me, logout }) {
  return html`<div>
    <h1>${t('set.title')}</h1>
    <${WebSettings} settings=${settings} reload=${reload} />
    <section class="panel" aria-labelledby="set-pin-h"><h2 id="set-pin-h">${t('pin.title')}</h2><${PinChange} forced=${false} /></section>
    <${VoicemailSettings} />
    <${VoicemailDelivery} />
    <${ClickToCallHandler} />
    <${OwnQuickForwards} />
    <${SavedDestinations} />
    ${me?.role === 'receptionist' && html`<${TollFraud} />`}
    <${LogoutEverywhere} logout=${logout} />
  </div>`;
}
