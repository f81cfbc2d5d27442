// "Beskeder": write to a colleague (e-mail or SMS, free text or a standard message), the written
// messages I received (forward, mark, delete), and — for receptionists — the organisation's
// standard messages.
import { html, useState } from '../vendor/htm-preact.js';
import { t } from '../lib/i18n.js';
import { get, post, put, del } from '../lib/api.js';
import { errorText, toast, useLoad } from './common.js';
import { useMailbox, WrittenItem } from './voicemail.js';

/** The "write a message" form; `toUser` preselects the recipient (receptionist board). */
export function WriteMessage({ colleagues, toUser, onSent, idp = 'msg' }) {
  const [to, setTo] = useState(toUser ? String(toUser) : '');
  const [other, setOther] = useState('');
  const [channel, setChannel] = useState('email');
  const [body, setBody] = useState('');
  const [error, setError] = useState('');
  const [standard] = useLoad(() => get('/standard-messages'), []);
  const send = async (e) => {
    e.preventDefault(); setError('');
    try {
      const recipient = to !== 'other' ? { to_user_id: Number(to) }
        : channel === 'email' ? { to_address: other.trim() } : { to_number: other.trim() };
      await post('/me/messages', { ...recipient, channel, body: body.trim() });
      setBody(''); toast(t('msg.sent')); if (onSent) onSent();
    } catch (err) { setError(errorText(err)); }
  };
  return html`<form onSubmit=${send} data-testid=${`${idp}-write`}>
    ${!toUser && html`<label for=${`${idp}-to`}>${t('msg.to')}</label>
      <select id=${`${idp}-to`} required value=${to} onChange=${(e) => setTo(e.target.value)}>
        <option value="">—</option>${(colleagues || []).map((c) => html`<option value=${c.id}>${c.name} (${c.local_number})</option>`)}
        <option value="other">${t('msg.to_other')}</option></select>`}
    ${to === 'other' && html`<label for=${`${idp}-other`}>${t(channel === 'email' ? 'msg.to_address' : 'msg.to_number')}</label>
      <input id=${`${idp}-other`} type=${channel === 'email' ? 'email' : 'tel'} required value=${other} onInput=${(e) => setOther(e.target.value)} />`}
    <fieldset><legend>${t('msg.channel')}</legend>
      ${['email', 'sms'].map((c) => html`<span class="check"><input type="radio" id=${`${idp}-ch-${c}`} name=${`${idp}-ch`}
        checked=${channel === c} onChange=${() => setChannel(c)} /><label for=${`${idp}-ch-${c}`}>${t(`channel.${c}`)}</label></span>`)}
    </fieldset>
    ${standard && standard.length > 0 && html`<label for=${`${idp}-std`}>${t('msg.standard')}</label>
      <select id=${`${idp}-std`} onChange=${(e) => e.target.value && setBody(e.target.value)}>
        <option value="">—</option>${standard.map((s) => html`<option value=${s.text}>${s.text}</option>`)}</select>`}
    <label for=${`${idp}-body`}>${t('msg.body')}</label>
    <textarea id=${`${idp}-body`} required maxlength="1000" value=${body} onInput=${(e) => setBody(e.target.value)}></textarea>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="row"><button class="primary" type="submit">${t('msg.send')}</button></div>
  </form>`;
}

function StandardMessages() {
  const [list, error, reload] = useLoad(() => get('/standard-messages'), []);
  const [text, setText] = useState('');
  const [editing, setEditing] = useState(null);
  const [editText, setEditText] = useState('');
  const act = async (f) => { try { await f(); reload(); } catch (e) { toast(errorText(e), 'error'); } };
  const add = (e) => { e.preventDefault(); act(async () => { await post('/standard-messages', { text: text.trim() }); setText(''); }); };
  return html`<section class="panel" aria-labelledby="std-h">
    <h2 id="std-h">${t('msg.standard_title')}</h2>
    ${error && html`<p class="error">${errorText(error)}</p>`}
    <ul class="list">${(list || []).map((s) => html`<li key=${s.id}>${editing === s.id
      ? html`<form class="grow row" onSubmit=${(e) => { e.preventDefault(); act(async () => { await put(`/standard-messages/${s.id}`, { text: editText }); setEditing(null); }); }}>
          <label for=${`std-${s.id}`} class="visually-hidden">${t('msg.body')}</label>
          <input id=${`std-${s.id}`} type="text" value=${editText} onInput=${(e) => setEditText(e.target.value)} />
          <button class="primary" type="submit">${t('common.save')}</button>
          <button type="button" onClick=${() => setEditing(null)}>${t('common.cancel')}</button></form>`
      : html`<div class="grow">${s.text}</div><div class="row">
          <button type="button" onClick=${() => { setEditing(s.id); setEditText(s.text); }}>${t('common.edit')}</button>
          <button type="button" class="danger" onClick=${() => act(() => del(`/standard-messages/${s.id}`))}>${t('common.delete')}</button></div>`}</li>`)}</ul>
    <form onSubmit=${add}>
      <label for="std-new">${t('msg.standard_new')}</label>
      <input id="std-new" type="text" required maxlength="500" value=${text} onInput=${(e) => setText(e.target.value)} />
      <div class="row"><button type="submit">${t('common.add')}</button></div>
    </form>
  </section>`;
}

/** Where my written messages stand: queued, sent, or failed with the reason. */
function SentMessages({ version }) {
  const [data, error] = useLoad(() => get('/me/messages/sent'), [version]);
  const list = data ? data.deliveries : [];
  return html`<section class="panel" aria-labelledby="sent-h" data-testid="sent-messages">
    <h2 id="sent-h">${t('msg.sent_title')}</h2>
    ${error && html`<p class="error">${errorText(error)}</p>`}
    ${data && list.length === 0 && html`<p class="note">${t('msg.sent_none')}</p>`}
    <ul class="list">${list.map((d) => html`<li key=${d.id}><span class="grow">${d.address || '—'} · ${d.body}</span>
      <span class=${d.state === 'failed' ? 'error' : 'note'} data-state=${d.state}>${t(`delivery.${d.state}`)}${d.state === 'failed' && d.last_error ? `: ${d.last_error}` : ''}</span></li>`)}</ul>
  </section>`;
}

export function Messages({ me, setCounts }) {
  const [data, error, reload] = useMailbox(setCounts);
  const [colleagues] = useLoad(() => get('/colleagues?scope=internal').then((r) => r.colleagues.filter((c) => c.id !== me.id)), []);
  const written = data ? data.messages.filter((m) => m.kind === 'written') : [];
  const [sentVersion, setSentVersion] = useState(0);
  return html`<div class="split">
    <aside class="panel" aria-labelledby="write-h"><h2 id="write-h">${t('msg.write')}</h2>
      <${WriteMessage} colleagues=${colleagues} onSent=${() => setSentVersion((n) => n + 1)} /></aside>
    <div>
      <section class="panel" aria-labelledby="msg-h">
        <h1 id="msg-h">${t('msg.title')}</h1>
        ${error && html`<p class="error">${errorText(error)}</p>`}
        ${data && written.length === 0 && html`<p class="note">${t('msg.none')}</p>`}
        <ul class="list">${written.map((m) => html`<${WrittenItem} key=${m.id} m=${m} reload=${reload} colleagues=${colleagues} />`)}</ul>
      </section>
      <${SentMessages} version=${sentVersion} />
      ${me.role === 'receptionist' && html`<${StandardMessages} />`}
    </div>
  </div>`;
}
