// OnePresence: the entry point. Holds the session (who is logged in, their settings and
// message counts), routes by URL path with the History API, and renders the shell (header,
// tabs, connection state) around the current screen. Screens live in components/.
import { html, render, useState, useEffect } from './vendor/htm-preact.js';
import { t, setLang, onLang } from './lib/i18n.js';
import { get, post, onSessionProblem, prefetch, clearPrefetched } from './lib/api.js';
import { startLive, stopLive, subscribe, onConnection } from './lib/live.js';
import { Toasts } from './components/common.js';
import { Login, PinChange } from './components/login.js';
import { Colleagues } from './components/colleagues.js';
import { Timeline } from './components/timeline.js';
import { Forward } from './components/forward.js';
import { Schedule } from './components/schedule.js';
import { Calendar } from './components/calendar.js';
import { Voicemail } from './components/voicemail.js';
import { Messages } from './components/messages.js';
import { Calls } from './components/calls.js';
import { Phonebook } from './components/phonebook.js';
import { MyInfo } from './components/myinfo.js';
import { Settings } from './components/settings.js';
import { Reception } from './components/reception.js';
import { Dial, ImportContacts } from './components/directory.js';

const TABS = [
  ['colleagues', 'nav.colleagues'], ['forward', 'nav.forward'], ['schedule', 'nav.schedule'],
  ['calendar', 'nav.calendar'], ['voicemail', 'nav.voicemail'], ['messages', 'nav.messages'],
  ['calls', 'nav.calls'], ['phonebook', 'nav.phonebook'], ['me', 'nav.me'], ['settings', 'nav.settings'],
];
const START = { status: 'colleagues', colleagues: 'colleagues', forwarding: 'forward', voicemail: 'voicemail', calls: 'calls', phonebook: 'phonebook' };

/** Goes to a client path without a reload. */
export function navigate(path) {
  if (location.pathname !== path) history.pushState(null, '', path);
  window.dispatchEvent(new Event('os:navigate'));
}

function usePath() {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const f = () => setPath(location.pathname);
    window.addEventListener('popstate', f);
    window.addEventListener('os:navigate', f);
    return () => { window.removeEventListener('popstate', f); window.removeEventListener('os:navigate', f); };
  }, []);
  return path;
}

function Link({ to, children, ...rest }) {
  const click = (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    navigate(to);
  };
  return html`<a href=${to} onClick=${click} ...${rest}>${children}</a>`;
}

function Screen({ path, session, reload, logout }) {
  const parts = path.split('/').filter(Boolean);
  const props = { ...session, reload, navigate, logout };
  switch (parts[0]) {
    case 'colleagues':
      return parts[1] ? html`<${Timeline} ...${props} userId=${parts[1]} />` : html`<${Colleagues} ...${props} />`;
    case 'forward': return html`<${Forward} ...${props} />`;
    case 'schedule': return html`<${Schedule} ...${props} />`;
    case 'calendar': return html`<${Calendar} ...${props} />`;
    case 'voicemail': return html`<${Voicemail} ...${props} />`;
    case 'messages': return html`<${Messages} ...${props} />`;
    case 'calls': return html`<${Calls} ...${props} />`;
    case 'phonebook':
      return parts[1] === 'import' ? html`<${ImportContacts} ...${props} />` : html`<${Phonebook} ...${props} />`;
    case 'me': return html`<${MyInfo} ...${props} />`;
    case 'settings': return html`<${Settings} ...${props} />`;
    case 'reception': return html`<${Reception} ...${props} />`;
    case 'dial': return html`<${Dial} ...${props} />`;
    case 'voicemail-recording': return html`<${Voicemail} ...${props} openRecording=${parts[1]} />`;
    default: return html`<${Colleagues} ...${props} />`;
  }
}

function Shell({ session, path, reload, logout, badge }) {
  const [conn, setConn] = useState('connecting');
  useEffect(() => onConnection(setConn), []);
  const current = path.split('/').filter(Boolean)[0] || 'colleagues';
  const tabs = session.me.role === 'receptionist' ? [...TABS.slice(0, 1), ['reception', 'nav.reception'], ...TABS.slice(1)] : TABS;
  useEffect(() => {
    const tab = tabs.find(([id]) => id === current);
    document.title = `${tab ? t(tab[1]) : ''} · OnePresence`;
  }, [current]);
  return html`
    <a class="skip" href="#main">${t('nav.skip')}</a>
    <header class="top">
      <span class="brand">OnePresence</span>
      <span class=${conn === 'live' ? 'conn live' : 'conn'} role="status" data-conn=${conn}>
        ${t(`conn.${conn}`)}</span>
      <span class="who">${session.me.name} · ${session.me.local_number}</span>
      <button type="button" onClick=${logout}>${t('nav.logout')}</button>
    </header>
    <nav class="tabs" aria-label=${t('nav.label')}>
      <ul>${tabs.map(([id, key]) => html`<li><${Link} to=${`/${id}`} aria-current=${current === id ? 'page' : undefined}
        data-tab=${id}>${t(key)}${id === 'voicemail' && badge > 0
          ? html`<span class="badge" data-testid="vm-badge" aria-label=${t('vm.badge', { n: badge })}>${badge}</span>` : ''}</${Link}></li>`)}</ul>
    </nav>
    <main id="main" tabindex="-1"><${Screen} path=${path} session=${session} reload=${reload} logout=${logout} /></main>
    <${Toasts} />`;
}

// Links in the notification mails are fragments (`#/voicemail/7`, `#/voicemail/7/recording`),
// so the server needs no route for them: turn one into the client path it names.
if (location.hash.startsWith('#/')) {
  const target = location.hash.slice(1).replace(/^\/voicemail\/(\d+)\/recording$/, '/voicemail-recording/$1');
  history.replaceState(null, '', target);
}

function App() {
  const path = usePath();
  const [, setLangTick] = useState(0);
  // phase: loading | login | pin | ready
  const [phase, setPhase] = useState('loading');
  const [session, setSession] = useState(null);
  const [counts, setCounts] = useState({ new_voice: 0, new_written: 0 });

  useEffect(() => onLang(() => setLangTick((x) => x + 1)), []);

  const load = async () => {
    // The colleagues page is the usual first screen: ask for its data in the same round trip
    // as the session's, rather than after it.
    if (['/', '/login', '/colleagues'].includes(location.pathname)) {
      ['/colleagues', '/me/favourites', '/me/quick-forwards'].forEach(prefetch);
    }
    try {
      const [me, settings, vm] = await Promise.all([get('/me'), get('/me/settings'), get('/me/voicemail')]);
      setLang(settings.lang);
      setSession({ me, settings });
      setCounts(vm.counts);
      setPhase('ready');
      startLive();
      if (location.pathname === '/' || location.pathname === '/login') {
        history.replaceState(null, '', `/${START[settings.start_page] || 'colleagues'}`);
        window.dispatchEvent(new Event('os:navigate'));
      }
    } catch (e) {
      clearPrefetched();
      setPhase(e.code === 'pin_change_required' ? 'pin' : 'login');
    }
  };
  useEffect(() => {
    load();
    onSessionProblem((code) => { stopLive(); setPhase(code === 'pin_change_required' ? 'pin' : 'login'); });
  }, []);
  useEffect(() => subscribe((type, data) => {
    if (type === 'voicemail') setCounts((c) => ({ ...c, new_voice: data.new }));
    if (type === 'resync') get('/me/voicemail').then((vm) => setCounts(vm.counts), () => {});
  }), []);

  // ended === true: the server has ended the session already ("log out everywhere").
  const logout = async (ended) => {
    if (ended !== true) {
      try { await post('/logout'); } catch { /* the session may be gone already */ }
    }
    stopLive();
    clearPrefetched();
    setSession(null);
    history.replaceState(null, '', '/');
    setPhase('login');
  };

  if (phase === 'loading') return html`<p class="note loading">…</p>`;
  if (phase === 'login') return html`<${Login} onLoggedIn=${(r) => (r.pin_must_change ? setPhase('pin') : load())} />`;
  if (phase === 'pin') return html`<${PinChange} forced=${true} onDone=${load} onLogout=${logout} />`;
  const badge = (counts.new_voice || 0) + (counts.new_written || 0);
  return html`<${Shell} session=${{ ...session, counts, setCounts }} path=${path} reload=${load} logout=${logout} badge=${badge} />`;
}

render(html`<${App} />`, document.getElementById('app'));
