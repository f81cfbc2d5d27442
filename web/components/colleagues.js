// "Søgning": search colleagues by partial name in the chosen scope, each with live status, a
// favourite star, click-to-call and a link to the timeline; the quick forwards beside it.
import { html, useState, useEffect, useRef, useMemo } from '../vendor/htm-preact.js';
import { t } from '../lib/i18n.js';
import { get, put, del } from '../lib/api.js';
import { subscribe } from '../lib/live.js';
import { Phone, StatusLine, errorText, toast } from './common.js';
import { QuickForwards } from './forward.js';
import { SharedContactRow, SourceMark } from './directory.js';

/** One colleague row; shared with the phonebook's favourites. */
export function ColleagueRow({ c, starred, onStar, showNote, navigate }) {
  return html`<li data-user=${c.id} class="colleague">
    <button type="button" class="star" aria-pressed=${starred ? 'true' : 'false'}
      aria-label=${t(starred ? 'col.unstar' : 'col.star', { name: c.name })} onClick=${() => onStar(c, !starred)}>
      ${starred ? '★' : '☆'}</button>
    <div class="grow">
      <div><span class="name">${c.name}</span>
        ${c.department && html` <span class="note">· ${c.department}</span>`}</div>
      <${StatusLine} presence=${c.presence} showNote=${showNote} />
      <div class="row note">
        <span>${t('col.local')}: <${Phone} number=${c.local_number} label=${c.name} /></span>
        <span>${t('col.number')}: <${Phone} number=${c.one_number} label=${c.name} /></span>
        ${c.mobile_number && html`<span>${t('col.mobile')}: <${Phone} number=${c.mobile_number} label=${c.name} /></span>`}
      </div>
    </div>
    <a class="button" href=${`/colleagues/${c.id}`} onClick=${(e) => { e.preventDefault(); navigate(`/colleagues/${c.id}`); }}
      aria-label=${t('col.timeline_of', { name: c.name })}>${t('col.timeline')}</a>
  </li>`;
}

/** Keeps a list of colleagues live: re-reads only the colleague an event is about, and lays
 * the fresh copies over the list as loaded (no second render of the whole list on arrival). */
export function useLiveColleagues(initial, reloadAll) {
  const [fresh, setFresh] = useState({});
  const ref = useRef(initial);
  ref.current = initial;
  useEffect(() => setFresh({}), [initial]);
  useEffect(() => subscribe(async (type, data) => {
    if (type === 'resync') { reloadAll(); return; }
    if (type !== 'calls' && type !== 'availability') return;
    if (!ref.current || !ref.current.some((c) => c.id === data.user_id)) return;
    try {
      const one = await get(`/users/${data.user_id}`);
      setFresh((f) => ({ ...f, [one.id]: one }));
    } catch { /* gone: the next search drops it */ }
  }), []);
  return useMemo(() => initial && initial.map((c) => fresh[c.id] || c), [initial, fresh]);
}

/** Favourite ids, and a function to star or unstar. */
export function useFavourites() {
  const [ids, setIds] = useState(new Set());
  useEffect(() => { get('/me/favourites').then((f) => setIds(new Set(f.map((c) => c.id))), () => {}); }, []);
  const star = async (c, on) => {
    try {
      if (on) await put(`/me/favourites/${c.id}`); else await del(`/me/favourites/${c.id}`);
      setIds((s) => { const n = new Set(s); if (on) n.add(c.id); else n.delete(c.id); return n; });
    } catch (e) { toast(errorText(e), 'error'); }
  };
  return [ids, star];
}

export function Colleagues({ me, navigate }) {
  const [q, setQ] = useState('');
  // null until chosen: the server searches the user's default scope and says which it was.
  const [scope, setScope] = useState(null);
  const [result, setResult] = useState(null);
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);
  const [favs, star] = useFavourites();
  useEffect(() => {
    const id = setTimeout(async () => {
      try {
        const params = new URLSearchParams();
        if (q.trim()) params.set('q', q.trim());
        if (scope) params.set('scope', scope);
        setResult(await get(params.size ? `/colleagues?${params}` : '/colleagues'));
        setError('');
      } catch (e) { setError(errorText(e)); }
    }, q ? 150 : 0);
    return () => clearTimeout(id);
  }, [q, scope, tick]);
  const colleagues = useLiveColleagues(result ? result.colleagues : null, () => setTick((x) => x + 1));
  const isRec = me.role === 'receptionist';
  return html`<div class="split colleagues-page">
    <aside>
      <div class="panel search-panel">
        <form role="search" onSubmit=${(e) => e.preventDefault()}>
          <label for="search">${t('col.search')}</label>
          <input id="search" type="search" value=${q} placeholder=${t('col.search_ph')}
            onInput=${(e) => setQ(e.target.value)} autocomplete="off" />
          <fieldset>
            <legend>${t('col.scope')}</legend>
            ${['all', 'internal', 'external'].map((s) => html`<span class="check">
              <input type="radio" name="scope" id=${`scope-${s}`} value=${s} checked=${(scope || (result && result.scope) || 'all') === s}
                onChange=${() => setScope(s)} /><label for=${`scope-${s}`}>${t(`scope.${s}`)}</label></span>`)}
          </fieldset>
        </form>
      </div>
      <${QuickForwards} navigate=${navigate} />
    </aside>
    <section class="panel results" aria-labelledby="col-h">
      <h1 id="col-h">${t('col.title')}</h1>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      ${!result && !error && html`<p class="note">${t('common.loading')}</p>`}
      ${colleagues && html`<ul class="list" aria-label=${t('col.results')} data-testid="colleagues">
        ${colleagues.map((c) => html`<${ColleagueRow} key=${c.id} c=${c} starred=${favs.has(c.id)}
          onStar=${star} showNote=${isRec} navigate=${navigate} />`)}
      </ul>`}
      ${result && result.contacts.length > 0 && html`<h2>${t('col.contacts')}</h2>
        <ul class="list">${result.contacts.map((c) => html`<li key=${`c${c.id}`}><div class="grow">
          <div><span class="name">${c.name}</span> <${SourceMark} source=${c.source} /></div>${c.company && html`<div class="note">${c.company}</div>`}
          <div class="row note"><${Phone} number=${c.phone_number} label=${c.name} /><${Phone} number=${c.mobile_number} label=${c.name} /></div>
        </div></li>`)}</ul>`}
      ${result && (result.shared_contacts || []).length > 0 && html`<h2>${t('sc.title')}</h2>
        <ul class="list" data-testid="shared-results">${result.shared_contacts.map((c) => html`<${SharedContactRow} key=${`s${c.id}`} c=${c} />`)}</ul>`}
      ${result && colleagues && colleagues.length === 0 && result.contacts.length === 0
        && (result.shared_contacts || []).length === 0 && html`<p class="note">${t('col.none')}</p>`}
    </section>
  </div>`;
}
