// Panel part (issue 17): the problems banner (misconfigured engines, a degraded cache) and the voice files
// (pocket-tts voices from <share>/voices/pocket-tts with their manifest: file, language, source, licence).
// Every value is set as text, never as HTML.

import { $, el } from './dom.js';

/** Shows what the user must fix, from the status's `problems` ([{engine, code, message}]); hides when none. */
export function renderProblems(status) {
  const box = $('#problems');
  if (!box || !Array.isArray(status.problems)) return;
  box.replaceChildren();
  for (const p of status.problems) {
    const item = el('li', undefined, 'problem');
    item.dataset.code = p.code;
    const what = p.code === 'CACHE_DEGRADED' ? 'Cache degraded' : `Engine ${p.engine} misconfigured`;
    item.append(el('strong', what), el('span', ` ${p.message}`));
    box.append(item);
  }
  box.hidden = status.problems.length === 0;
  const badge = $('#cache-degraded');
  if (badge) badge.hidden = !status.cache?.degraded;
}

/** Lists the voices that come from files (they carry `file`), with their manifest fields and warnings. */
export function renderVoiceFiles(engines) {
  const body = $('#voice-files tbody');
  if (!body) return;
  body.replaceChildren();
  let rows = 0;
  for (const engine of engines) {
    for (const v of engine.voices ?? []) {
      if (!v.file) continue;
      const row = el('tr', undefined, v.warnings?.length ? 'warn' : 'ok');
      row.dataset.voice = v.name;
      const licence = el('td', v.licence ?? 'no licence entry', v.licence ? 'licence' : 'licence missing');
      row.append(
        el('td', `${engine.name}: ${v.name}`),
        el('td', v.file, 'text'),
        el('td', (v.languages ?? []).join(', ')),
        el('td', v.source ?? '', 'text'),
        licence,
        el('td', (v.warnings ?? []).join('; '), 'warnings'),
      );
      body.append(row);
      rows++;
    }
  }
  $('#voice-files-empty').hidden = rows > 0;
}
