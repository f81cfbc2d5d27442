// "Telefonbesked": voice and written messages in one list, new ones marked; voice messages play
// in the browser (the audio is served with byte ranges, so the player can seek); save, mark
// read, delete; the caller to my contacts or called back; written messages forwarded.
import { html, useState, useEffect } from '../vendor/htm-preact.js';
import { t, fmtDateTime, fmtDuration } from '../lib/i18n.js';
import { get, post, patch, del } from '../lib/api.js';
import { subscribe } from '../lib/live.js';
import { Phone, errorText, toast, useLoad } from './common.js';
import { SourceMark, usePlayer } from './directory.js';

/** The message list, re-read when the mailbox changes. */
export function useMailbox(setCounts) {
  const [data, error, reload] = useLoad(() => get('/me/voicemail'), []);
  useEffect(() => { if (data && setCounts) setCounts(data.counts); }, [data]);
  useEffect(() => subscribe((type) => { if (type === 'voicemail' || type === 'resync') reload(); }), []);
  return [data, error, reload];
}

function VoiceItem({ m, reload, player, open }) {
  const act = async (f, done) => { try { await f(); if (done) toast(done); reload(); } catch (e) { toast(errorText(e), 'error'); } };
  const who = m.caller_name || m.caller_number || t('vm.unknown');
  const toContacts = () => act(() => post('/me/contacts', { name: m.caller_name || m.caller_number, phone_number: m.caller_number }), t('vm.contact_saved'));
  return html`<li class=${m.new ? 'new voice' : 'voice'} data-vm=${m.id} data-state=${m.state}>
    <div class="grow">
      <div><span class="kind">${t('vm.voice')}</span> <span class="name">${who}</span> <${SourceMark} source=${m.caller_name_source} />
        ${m.new && html` <strong class="when-current">${t('vm.new')}</strong>`}
        ${m.state === 'saved' && html` <span class="note">(${t('vm.saved')})</span>`}</div>
      <div class="note">${fmtDateTime(m.received_at)} · ${fmtDuration(m.duration_ms)}
        ${m.caller_number && html` · <${Phone} number=${m.caller_number} label=${who} />`}</div>
      ${player === 'external'
        ? html`<a class="button" href=${m.audio_url} download=${`voicemail-${m.id}.wav`} data-player="external">${t('vd.open_external')}</a>`
        : html`<audio controls preload="metadata" src=${m.audio_url} aria-label=${t('vm.play', { who })} autoplay=${open}
        onEnded=${() => m.new && act(() => patch(`/me/voicemail/${m.id}`, { state: 'read' }))}></audio>`}
    </div>
    <div class="row">
      <button type="button" onClick=${() => act(() => patch(`/me/voicemail/${m.id}`, { state: 'saved' }), t('vm.saved'))}>${t('vm.save')}</button>
      ${m.new && html`<button type="button" onClick=${() => act(() => patch(`/me/voicemail/${m.id}`, { state: 'read' }))}>${t('vm.mark_read')}</button>`}
      ${m.caller_number && html`<button type="button" onClick=${toContacts}>${t('vm.to_contacts')}</button>`}
      <button type="button" class="danger" data-action="delete" onClick=${() => act(() => del(`/me/voicemail/${m.id}`), t('vm.deleted'))}>${t('common.delete')}</button>
    </div>
  </li>`;
}

/** A written message, with forwarding to a colleague. */
export function WrittenItem({ m, reload, colleagues }) {
  const [fwdTo, setFwdTo] = useState('');
  const act = async (f, done) => { try { await f(); if (done) toast(done); reload(); } catch (e) { toast(errorText(e), 'error'); } };
  const forward = (e) => { e.preventDefault(); if (fwdTo) act(() => post(`/me/messages/${m.id}/forward`, { to_user_id: Number(fwdTo) }), t('msg.forwarded')); };
  const from = m.from_name || (m.from && m.from.external) || t('vm.unknown');
  return html`<li class=${m.new ? 'new written' : 'written'}>
    <div class="grow">
      <div><span class="kind">${t(`channel.${m.channel}`)}</span> <span class="name">${from}</span>
        ${m.new && html` <strong class="when-current">${t('vm.new')}</strong>`}</div>
      <div class="note">${fmtDateTime(m.received_at)}</div>
      <p>${m.body}</p>
      ${colleagues && html`<form class="row" onSubmit=${forward}>
        <label for=${`fwd-${m.id}`} class="inline">${t('msg.forward_to')}</label>
        <select id=${`fwd-${m.id}`} value=${fwdTo} onChange=${(e) => setFwdTo(e.target.value)}>
          <option value="">—</option>${colleagues.map((c) => html`<option value=${c.id}>${c.name}</option>`)}</select>
        <button type="submit">${t('msg.forward')}</button></form>`}
    </div>
    <div class="row">
      <button type="button" onClick=${() => act(() => patch(`/me/messages/${m.id}`, { state: 'saved' }), t('vm.saved'))}>${t('vm.save')}</button>
      ${m.new && html`<button type="button" onClick=${() => act(() => patch(`/me/messages/${m.id}`, { state: 'read' }))}>${t('vm.mark_read')}</button>`}
      <button type="button" class="danger" onClick=${() => act(() => del(`/me/messages/${m.id}`), t('vm.deleted'))}>${t('common.delete')}</button>
    </div>
  </li>`;
}

export function Voicemail({ setCounts, openRecording }) {
  const [data, error, reload] = useMailbox(setCounts);
  const player = usePlayer();
  // The mail's "e-mail with link": open the recording through its authenticated route, in
  // the player the user chose (the web player here, or the system's via a download).
  useEffect(() => {
    if (!openRecording || player !== 'external') return;
    location.assign(`/api/v1/me/voicemail/${openRecording}/audio`);
  }, [openRecording, player]);
  const [colleagues] = useLoad(() => get('/colleagues?scope=internal').then((r) => r.colleagues), []);
  return html`<section class="panel" aria-labelledby="vm-h">
    <h1 id="vm-h">${t('vm.title')}</h1>
    ${data && html`<p class="note" data-testid="vm-counts">${t('vm.counts', { n: data.counts.new_voice, m: data.counts.new_written, total: data.counts.total })}</p>`}
    ${error && html`<p class="error">${errorText(error)}</p>`}
    ${data && data.messages.length === 0 && html`<p class="note">${t('vm.none')}</p>`}
    <ul class="list" data-testid="messages">${(data ? data.messages : []).map((m) => (m.kind === 'voice'
      ? html`<${VoiceItem} key=${`v${m.id}`} m=${m} reload=${reload} player=${player} open=${String(m.id) === openRecording} />`
      : html`<${WrittenItem} key=${`w${m.id}`} m=${m} reload=${reload} colleagues=${colleagues} />`))}</ul>
  </section>`;
}
