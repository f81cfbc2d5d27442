// "Samtale": call history — incoming, outgoing, missed or all — each number calls back.
import { html, useState } from '../vendor/htm-preact.js';
import { t, fmtDateTime, fmtDuration } from '../lib/i18n.js';
import { get } from '../lib/api.js';
import { Phone, errorText, useLoad } from './common.js';
import { SourceMark } from './directory.js';

const ICON = { in: '↙', out: '↗', missed: '✕' };

/** A call to a group says so (`group:<number>`, `;answered_by=<OneNumber>` when a colleague
 *  took it), so a member sees why their phone rang and who answered. */
function groupNote(route) {
  const m = /^group:(\d+)(?:;answered_by=(\d+))?/.exec(route || '');
  if (!m) return '';
  return ' · ' + (m[2] ? t('calls.group_answered', { group: m[1], by: m[2] }) : t('calls.group', { group: m[1] }));
}

export function Calls() {
  const [calls, error] = useLoad(() => get('/me/calls'), []);
  const [filter, setFilter] = useState('all');
  const shown = (calls || []).filter((c) => filter === 'all' || c.direction === filter);
  return html`<section class="panel" aria-labelledby="calls-h">
    <h1 id="calls-h">${t('calls.title')}</h1>
    <div class="row" role="group" aria-label=${t('calls.filter')}>
      ${['all', 'in', 'out', 'missed'].map((f) => html`<button type="button" aria-pressed=${filter === f ? 'true' : 'false'}
        class=${filter === f ? 'primary' : ''} onClick=${() => setFilter(f)}>${t(`calls.${f}`)}</button>`)}
    </div>
    ${error && html`<p class="error">${errorText(error)}</p>`}
    ${calls && shown.length === 0 && html`<p class="note">${t('calls.none')}</p>`}
    <ul class="list">${shown.map((c) => html`<li key=${c.id}>
      <span aria-hidden="true" class=${c.direction === 'missed' ? 'when-current' : ''}>${ICON[c.direction]}</span>
      <div class="grow"><div><span class="name">${c.name || c.other_name || c.other_number}</span>
        ${c.name && html` <${SourceMark} source=${c.name_source} /> <span class="note">${c.other_number}</span>`}
        <span class="note"> · ${t(`calls.${c.direction}`)}${groupNote(c.route)}</span></div>
        <div class="note">${fmtDateTime(c.started_at)}${c.answered_at && c.ended_at
          ? ` · ${fmtDuration(new Date(c.ended_at) - new Date(c.answered_at))}` : ''}</div></div>
      <${Phone} number=${c.other_number} label=${c.name || c.other_name} />
    </li>`)}</ul>
  </section>`;
}
