// Login with the 7-digit local number and PIN, the language switch, "send me a new PIN", and
// the PIN change (forced after a default or reset PIN, or from the settings).
import { html, useEffect, useState } from '../vendor/htm-preact.js';
import { t, lang, setLang } from '../lib/i18n.js';
import { get, post, put } from '../lib/api.js';
import { errorText } from './common.js';

function LangSwitch() {
  return html`<div class="row lang-switch">
    <label for="login-lang" class="inline">${t('login.language')}</label>
    <select id="login-lang" value=${lang()} onChange=${(e) => setLang(e.target.value)}>
      <option value="da">Dansk</option><option value="sv">Svenska</option><option value="en">English</option>
    </select>
  </div>`;
}

export function Login({ onLoggedIn }) {
  const [number, setNumber] = useState('');
  const [pin, setPin] = useState('');
  const [error, setError] = useState('');
  const [info, setInfo] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true); setError(''); setInfo('');
    try {
      onLoggedIn(await post('/login', { local_number: number.trim(), pin }));
    } catch (err) {
      setError(err.status === 401 ? t('login.wrong') : errorText(err));
    } finally { setBusy(false); }
  };
  // Which ways a new PIN can travel on this server (e-mail, SMS).
  const [channels, setChannels] = useState({ email: true, sms: false });
  useEffect(() => { get('/pin-reset/channels').then(setChannels, () => {}); }, []);
  const reset = async (channel) => {
    setError(''); setInfo('');
    if (!/^\d{7}$/.test(number.trim())) { setError(t('login.reset_needs_number')); return; }
    try { await post('/pin-reset', { local_number: number.trim(), channel }); setInfo(t('login.reset_sent')); }
    catch (err) { setError(err.code === 'no_address' ? t(`login.reset_no_${channel}`) : errorText(err)); }
  };
  return html`<main class="login" id="main">
    <div class="panel">
      <div class="brand">OnePresence</div>
      <h1>${t('login.title')}</h1>
      <form onSubmit=${submit} aria-describedby="login-help">
        <label for="local-number">${t('login.local_number')}</label>
        <input id="local-number" name="local_number" type="text" inputmode="numeric" autocomplete="username"
          maxlength="7" required value=${number} onInput=${(e) => setNumber(e.target.value)} />
        <p class="note" id="login-help">${t('login.help')}</p>
        <label for="pin">${t('login.pin')}</label>
        <input id="pin" name="pin" type="password" inputmode="numeric" autocomplete="current-password"
          required value=${pin} onInput=${(e) => setPin(e.target.value)} />
        ${error && html`<p class="error" role="alert">${error}</p>`}
        ${info && html`<p class="notice" role="status">${info}</p>`}
        <div class="row" style=${{ marginTop: '12px' }}>
          <button class="primary" type="submit" disabled=${busy}>${t('login.submit')}</button>
          ${channels.email && html`<button type="button" class="link" onClick=${() => reset('email')}>${t('login.reset')}</button>`}
          ${channels.sms && html`<button type="button" class="link" onClick=${() => reset('sms')}>${t('login.reset_sms')}</button>`}
        </div>
      </form>
      <hr />
      <${LangSwitch} />
    </div>
  </main>`;
}

/** The PIN change form; `forced` after a default or reset PIN. */
export function PinChange({ forced, onDone, onLogout }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [error, setError] = useState('');
  const [done, setDone] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setError('');
    if (next !== again) { setError(t('pin.mismatch')); return; }
    try {
      await put('/me/pin', { current_pin: current, new_pin: next });
      setDone(true); setCurrent(''); setNext(''); setAgain('');
      if (onDone) onDone();
    } catch (err) { setError(errorText(err)); }
  };
  const form = html`<form onSubmit=${submit} class="pin-form">
    ${forced && html`<p role="alert">${t('pin.forced')}</p>`}
    <label for="pin-current">${t('pin.current')}</label>
    <input id="pin-current" type="password" inputmode="numeric" autocomplete="current-password" required
      value=${current} onInput=${(e) => setCurrent(e.target.value)} />
    <label for="pin-new">${t('pin.new')}</label>
    <input id="pin-new" type="password" inputmode="numeric" autocomplete="new-password" required
      value=${next} onInput=${(e) => setNext(e.target.value)} />
    <label for="pin-again">${t('pin.again')}</label>
    <input id="pin-again" type="password" inputmode="numeric" autocomplete="new-password" required
      value=${again} onInput=${(e) => setAgain(e.target.value)} />
    <p class="note">${t('pin.rules')}</p>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${done && !forced && html`<p class="notice" role="status">${t('pin.changed')}</p>`}
    <div class="row">
      <button class="primary" type="submit">${t('pin.submit')}</button>
      ${onLogout && html`<button type="button" onClick=${onLogout}>${t('nav.logout')}</button>`}
    </div>
  </form>`;
  if (!forced) return form;
  return html`<main class="login" id="main"><div class="panel">
    <div class="brand">OnePresence</div><h1>${t('pin.title')}</h1>${form}</div></main>`;
}
