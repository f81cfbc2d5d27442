// A colleague's availability as a picture: one row per day for N days, current entries red,
// future ones blue; the same items as a list for screen readers and small screens.
import { html, useState, useEffect } from '../vendor/htm-preact.js';
import { t, fmtDay, fmtDateTime } from '../lib/i18n.js';
import { get } from '../lib/api.js';
import { subscribe } from '../lib/live.js';
import { StatusLine, Phone, errorText, useLoad } from './common.js';

const DAY = 86400e3;

function segments(items, dayStart) {
  const dayEnd = dayStart + DAY;
  return items.flatMap((it) => {
    const from = new Date(it.from).getTime();
    const to = it.to ? new Date(it.to).getTime() : Infinity;
    const a = Math.max(from, dayStart);
    const b = Math.min(to, dayEnd);
    if (b <= a) return [];
    return [{ it, left: ((a - dayStart) / DAY) * 100, width: Math.max(((b - a) / DAY) * 100, 0.5) }];
  });
}

export function Timeline({ userId, me, navigate }) {
  const [days, setDays] = useState(7);
  const [user, userErr, reloadUser] = useLoad(() => get(`/users/${userId}`), [userId]);
  const [tl, tlErr, reloadTl] = useLoad(() => get(`/users/${userId}/timeline?days=${days}`), [userId, days]);
  useEffect(() => subscribe((type, data) => {
    if (type === 'resync' || ((type === 'availability' || type === 'calls') && String(data.user_id) === String(userId))) {
      reloadUser(); reloadTl();
    }
  }), [userId]);
  const error = userErr || tlErr;
  const today = new Date(); today.setHours(0, 0, 0, 0);
  const rows = Array.from({ length: days }, (_, i) => {
    const d = new Date(today); d.setDate(d.getDate() + i);
    return d;
  });
  const isRec = me.role === 'receptionist';
  return html`<section class="panel" aria-labelledby="tl-h">
    <p><a href="/colleagues" onClick=${(e) => { e.preventDefault(); navigate('/colleagues'); }}>← ${t('tl.back')}</a></p>
    <h1 id="tl-h">${t('tl.title', { name: user ? user.name : '' })}</h1>
    ${error && html`<p class="error" role="alert">${errorText(error)}</p>`}
    ${user && html`<${StatusLine} presence=${user.presence} showNote=${isRec} />
      <p class="note">${t('col.local')}: <${Phone} number=${user.local_number} label=${user.name} /> · ${t('col.number')}: <${Phone} number=${user.one_number} label=${user.name} /></p>`}
    <div class="row">
      <label for="tl-days" class="inline">${t('tl.days')}</label>
      <select id="tl-days" value=${days} onChange=${(e) => setDays(Number(e.target.value))}>
        ${[1, 3, 7, 14, 30].map((n) => html`<option value=${n}>${n}</option>`)}
      </select>
      <span class="legend note"><span class="when-current">■ ${t('when.current')}</span><span class="when-future">■ ${t('when.future')}</span></span>
    </div>
    ${tl && html`<div class="timeline" aria-hidden="true" data-testid="timeline-chart">
      <div class="tl-hours"><div></div><div><span>00</span><span>06</span><span>12</span><span>18</span><span>24</span></div></div>
      ${rows.map((d) => html`<div class="tl-row"><div class="note">${fmtDay(d)}</div><div class="tl-track">
        ${segments(tl.items, d.getTime()).map((s) => html`<div class=${`tl-seg ${s.it.when}`} data-kind=${s.it.kind}
          title=${t(`reason.${s.it.reason}`)} style=${{ left: `${s.left}%`, width: `${s.width}%` }}></div>`)}
      </div></div>`)}
    </div>
    <h2>${t('tl.list')}</h2>
    ${tl.items.length === 0 && html`<p class="note">${t('tl.empty')}</p>`}
    <ul class="list" data-testid="timeline-items">${tl.items.map((it) => html`<li class=${`item-${it.when}`}>
      <div class="grow"><span class=${`when-${it.when}`}>${t(`when.${it.when}`)}</span> · <strong>${t(`reason.${it.reason}`)}</strong>
        <span class="note"> · ${t(`kind.${it.kind}`)}</span>
        <div class="note">${fmtDateTime(it.from)} – ${it.to ? fmtDateTime(it.to) : t('status.further_notice')}
          <span class="origin">${it.origin}</span></div>
        ${it.text && html`<div>“${it.text}”</div>`}
        ${isRec && it.receptionist_note && html`<div class="note">${t('status.reception_note')}: ${it.receptionist_note}</div>`}
      </div></li>`)}</ul>`}
  </section>`;
}
