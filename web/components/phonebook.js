// "Telefonbog": my personal contacts (create, edit, delete; call) and my favourite colleagues.
import { html, useState } from '../vendor/htm-preact.js';
import { t } from '../lib/i18n.js';
import { get, post, put, del } from '../lib/api.js';
import { Phone, errorText, toast, useLoad } from './common.js';
import { ColleagueRow, useLiveColleagues, useFavourites } from './colleagues.js';
import { SharedContacts } from './directory.js';

const FIELDS = [['name', 'text'], ['company', 'text'], ['phone_number', 'tel'], ['mobile_number', 'tel'], ['email', 'email']];

function ContactForm({ initial, onSave, onCancel }) {
  const [v, setV] = useState(() => Object.fromEntries(FIELDS.map(([f]) => [f, (initial && initial[f]) || ''])));
  const [error, setError] = useState('');
  const idp = initial ? `ct-${initial.id}` : 'ct-new';
  const submit = async (e) => {
    e.preventDefault(); setError('');
    const body = { name: v.name.trim() };
    for (const [f] of FIELDS.slice(1)) if (v[f].trim()) body[f] = v[f].trim();
    try { await onSave(body); } catch (err) { setError(errorText(err)); }
  };
  return html`<form onSubmit=${submit} class="grow">
    <div class="grid2">${FIELDS.map(([f, type]) => html`<div><label for=${`${idp}-${f}`}>${t(`pb.${f}`)}</label>
      <input id=${`${idp}-${f}`} type=${type} required=${f === 'name'} value=${v[f]}
        onInput=${(e) => setV({ ...v, [f]: e.target.value })} /></div>`)}</div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="row"><button class="primary" type="submit">${t('common.save')}</button>
      ${onCancel && html`<button type="button" onClick=${onCancel}>${t('common.cancel')}</button>`}</div>
  </form>`;
}

export function Phonebook({ me, navigate }) {
  const [contacts, error, reload] = useLoad(() => get('/me/contacts'), []);
  const [favList, , reloadFavs] = useLoad(() => get('/me/favourites'), []);
  const favourites = useLiveColleagues(favList, reloadFavs);
  const [, star] = useFavourites();
  const [editing, setEditing] = useState(null);
  const [adding, setAdding] = useState(false);
  const remove = async (c) => { try { await del(`/me/contacts/${c.id}`); reload(); } catch (e) { toast(errorText(e), 'error'); } };
  return html`<div>
    <section class="panel" aria-labelledby="fav-h">
      <h1 id="fav-h">${t('pb.favourites')}</h1>
      ${favourites && favourites.length === 0 && html`<p class="note">${t('pb.no_favourites')}</p>`}
      <ul class="list">${(favourites || []).map((c) => html`<${ColleagueRow} key=${c.id} c=${c} starred=${true}
        onStar=${async (col, on) => { await star(col, on); reloadFavs(); }} showNote=${me.role === 'receptionist'} navigate=${navigate} />`)}</ul>
    </section>
    <section class="panel" aria-labelledby="ct-h">
      <h2 id="ct-h">${t('pb.contacts')}</h2>
      ${error && html`<p class="error">${errorText(error)}</p>`}
      <ul class="list">${(contacts || []).map((c) => html`<li key=${c.id}>${editing === c.id
        ? html`<${ContactForm} initial=${c} onSave=${async (b) => { await put(`/me/contacts/${c.id}`, b); setEditing(null); reload(); }} onCancel=${() => setEditing(null)} />`
        : html`<div class="grow"><div class="name">${c.name}</div>${c.company && html`<div class="note">${c.company}</div>`}
            <div class="row note"><${Phone} number=${c.phone_number} label=${c.name} /><${Phone} number=${c.mobile_number} label=${c.name} />
              ${c.email && html`<a href=${`mailto:${c.email}`}>${c.email}</a>`}</div></div>
          <div class="row"><button type="button" onClick=${() => setEditing(c.id)}>${t('common.edit')}</button>
            <button type="button" class="danger" onClick=${() => remove(c)}>${t('common.delete')}</button></div>`}</li>`)}</ul>
      ${adding ? html`<h2>${t('pb.new')}</h2><${ContactForm} onSave=${async (b) => { await post('/me/contacts', b); setAdding(false); reload(); }} onCancel=${() => setAdding(false)} />`
        : html`<button type="button" class="primary" onClick=${() => setAdding(true)}>${t('pb.new')}</button>`}
    </section>
    <${SharedContacts} me=${me} navigate=${navigate} />
  </div>`;
}
