// TTS Hub panel, announcements: the chime, closing chime and preset pickers of the say form, the target/group
// suggestions, the Preview button (hear it here, with the target's preset, without playing it on the target)
// and the Chimes card (every chime with its length and a play button). Data: GET api/chimes, GET api/targets.

import { el, formatBytes, formatMs, formBody, getJson, play, playButton, postSay } from './app.js';

const $ = (selector) => document.querySelector(selector);

/** Replaces a select's options after its fixed first ones (`keep`), keeping the chosen value when still there. */
function fillSelect(select, keep, options) {
  const chosen = select.value;
  while (select.options.length > keep) select.remove(keep);
  for (const { value, label } of options) {
    const option = el('option', label);
    option.value = value;
    select.append(option);
  }
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : '';
}

function renderChimes(body) {
  const usable = body.chimes.filter((c) => !c.error);
  const options = usable.map((c) => ({
    value: c.name,
    label: `${c.name} (${formatMs(c.duration_ms)}${c.source === 'user' ? ', yours' : ''})`,
  }));
  fillSelect($('#say-chime'), 2, options);
  fillSelect($('#say-chime-after'), 2, options);
  const list = $('#chimes');
  list.replaceChildren();
  for (const c of body.chimes) {
    const item = el('li', undefined, c.error ? 'invalid' : 'usable');
    item.dataset.chime = c.name;
    const facts = c.error
      ? c.error
      : `${formatMs(c.duration_ms)} · ${c.source === 'user' ? c.file : 'built in'} · ${formatBytes(c.bytes)}`;
    item.append(el('strong', c.name), el('span', facts, c.error ? 'error small' : 'muted small'));
    if (!c.error)
      item.append(playButton(`api/chimes/${encodeURIComponent(c.name)}/audio`, `chime ${c.name}`));
    list.append(item);
  }
  $('#chimes-dir').textContent = `Add your own (ogg, mp3, wav, flac) to ${body.dir}`;
}

function renderTargets(body) {
  const list = $('#targets-list');
  list.replaceChildren();
  for (const g of body.groups) {
    const option = el('option');
    option.value = g.name;
    option.label = `group: ${g.targets.join(', ')}`;
    list.append(option);
  }
  for (const t of body.targets) {
    const option = el('option');
    option.value = t.name;
    option.label = t.chime ? `${t.type}, chime ${t.chime}` : t.type;
    list.append(option);
  }
  fillSelect(
    $('#say-preset'),
    1,
    body.targets.map((t) => ({ value: t.name, label: t.name })),
  );
}

async function loadChimes() {
  const { ok, body } = await getJson('api/chimes');
  if (ok && Array.isArray(body.chimes)) renderChimes(body);
}

async function loadTargets() {
  const { ok, body } = await getJson('api/targets');
  if (ok && Array.isArray(body.targets)) renderTargets(body);
}

/** Says the form's text without playing on the target, with the target's preset unless one is chosen. */
async function preview() {
  const form = $('#say-form');
  const body = formBody(form);
  const target = body.target;
  delete body.target;
  const named = [...$('#say-preset').options].some((o) => o.value && o.value === target);
  if (!body.preset && named) body.preset = target;
  await postSay(body, $('#say-preview'), 'Preparing the preview…', (result) => {
    play(result.url, `Preview: ${body.text}`);
    return `Preview${body.preset ? ` as on ${body.preset}` : ''}: ${formatMs(result.duration_ms)} of audio.`;
  });
}

$('#say-preview').addEventListener('click', () => {
  if (!$('#say-form').reportValidity()) return;
  preview().catch(() => {});
});
for (const load of [loadChimes, loadTargets]) load().catch(() => {});
