// TTS Hub panel: plain ES module, no framework. Every URL is relative (no leading slash) so the page works
// under Home Assistant's ingress prefix. Live data comes from server-sent events (api/events); the cache and
// recordings lists are re-read on each status tick so sizes of recordings in progress grow on screen.

import { $, el } from './dom.js';
import { renderEngineSpeed, renderInstances, startDoctor } from './engines-panel.js';
import { sayOptions } from './say-options.js';
import { renderProblems, renderVoiceFiles } from './voice-files.js';

const MAX_REQUEST_ROWS = 20;
let recordingsAvailable = true;

/** `http://host:8099/api/audio/x.opus` → `api/audio/x.opus`, so audio is fetched through the page's own origin. */
export function relativeApiUrl(url) {
  const at = typeof url === 'string' ? url.indexOf('/api/') : -1;
  return at >= 0 ? url.slice(at + 1) : url;
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return '–';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function formatMs(ms) {
  if (!Number.isFinite(ms)) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function formatTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString();
}

/** Builds an element with text content (never HTML from data); kept here for the modules importing app.js. */
export { el };

export async function getJson(url, init) {
  const res = await fetch(url, { headers: { Accept: 'application/json' }, ...init });
  const body = await res.json().catch(() => ({}));
  return { ok: res.ok, status: res.status, body };
}

export function play(url, label) {
  const player = $('#player');
  player.src = relativeApiUrl(url);
  $('#player-label').textContent = label;
  player.play().catch(() => {
    // Autoplay refused (no user gesture): the controls are there to press play.
  });
}

export function playButton(url, label) {
  const button = el('button', '▶', 'icon');
  button.type = 'button';
  button.title = `Play ${label}`;
  button.setAttribute('aria-label', `Play ${label}`);
  button.addEventListener('click', () => play(url, label));
  return button;
}

function renderEngines(engines) {
  const list = $('#engines');
  const select = $('#say-engine');
  list.replaceChildren();
  const chosen = select.value;
  select.replaceChildren(el('option', 'default'));
  select.firstChild.value = '';
  for (const e of engines) {
    const item = el('li', undefined, e.healthy ? 'healthy' : 'unhealthy');
    item.dataset.engine = e.name;
    const busy = e.active !== undefined ? ` · ${e.active} busy, ${e.queued ?? 0} queued` : '';
    item.append(el('span', '', 'dot'), el('strong', e.name), el('span', ` ${e.type}${busy}`, 'muted'));
    if (e.error) item.append(el('div', e.error, 'muted small'));
    renderInstances(item, e);
    list.append(item);
    const option = el('option', e.name);
    option.value = e.name;
    select.append(option);
  }
  select.value = chosen;
  renderEngineSpeed(engines);
}

function renderStatus(status) {
  if (status.version) $('#version').textContent = `v${status.version}`;
  if (Array.isArray(status.engines)) renderEngines(status.engines);
  if (status.queue_depth !== undefined) $('#queue-depth').textContent = status.queue_depth;
  if (status.in_flight !== undefined) $('#in-flight').textContent = status.in_flight;
  renderProblems(status);
}

function renderCache(c) {
  $('#cache-entries').textContent = `${c.entries} / ${c.max_entries}`;
  $('#cache-bytes').textContent = `${formatBytes(c.bytes)} / ${formatBytes(c.max_bytes)}`;
  $('#cache-hit-ratio').textContent = `${Math.round((c.hit_ratio ?? 0) * 100)} %`;
}

function addRequest(r) {
  const row = el('tr', undefined, r.ok ? 'ok' : 'failed');
  row.dataset.id = r.id;
  row.append(el('td', formatTime(r.at)), el('td', r.text ?? '', 'text'));
  if (r.ok) {
    row.append(
      el('td', r.cached ? `${r.engine} (cache)` : r.engine),
      el('td', formatMs(r.latency_ms?.total)),
      el('td', formatMs(r.duration_ms)),
    );
    const cell = el('td');
    cell.append(playButton(r.url, r.text ?? r.id));
    row.append(cell);
  } else {
    const cell = el('td', `${r.error?.code}: ${r.error?.message}`, 'error');
    cell.colSpan = 4;
    row.append(cell);
  }
  const body = $('#requests tbody');
  body.prepend(row);
  while (body.rows.length > MAX_REQUEST_ROWS) body.deleteRow(-1);
  $('#requests-empty').hidden = true;
}

function renderRecordings(rows) {
  const body = $('#recordings tbody');
  body.replaceChildren();
  for (const r of rows) {
    const row = el('tr', undefined, r.in_progress ? 'in-progress' : 'done');
    row.dataset.id = r.id;
    const state = r.in_progress ? el('td', 'recording', 'state live') : el('td', 'done', 'state');
    row.append(
      el('td', r.device),
      el('td', formatTime(r.started_at)),
      el('td', formatMs(r.duration_ms)),
      el('td', formatBytes(r.bytes), 'size'),
      state,
    );
    const cell = el('td');
    cell.append(playButton(r.url, `${r.device} ${formatTime(r.started_at)}`));
    row.append(cell);
    body.append(row);
  }
  $('#recordings-empty').hidden = rows.length > 0;
}

async function refreshCache() {
  const { ok, body } = await getJson('api/cache');
  if (ok) renderCache(body);
}

async function refreshRecordings() {
  if (!recordingsAvailable) return;
  const { ok, status, body } = await getJson('api/recordings');
  if (status === 404) {
    recordingsAvailable = false;
    $('#recordings-empty').textContent = 'The recorder is not available.';
    return;
  }
  if (ok && Array.isArray(body.recordings)) renderRecordings(body.recordings);
}

async function loadEngines() {
  // GET api/engines → {engines: [{name, type, healthy, active, queued, error?}]}.
  const { ok, body } = await getJson('api/engines');
  if (ok && Array.isArray(body.engines)) renderEngines(body.engines);
}

async function loadVoices() {
  // GET api/voices → {engines: [{name, voices: [{name, languages}], error?}]}.
  const { ok, body } = await getJson('api/voices');
  if (!ok || !Array.isArray(body.engines)) return;
  renderVoiceFiles(body.engines);
  const list = $('#voices');
  for (const engine of body.engines) {
    for (const v of engine.voices ?? []) {
      const option = el('option');
      option.value = v.name;
      option.label = `${engine.name}: ${v.name}`;
      list.append(option);
    }
  }
}

/**
 * The say form as a request body: every named field with a value (`data-number` fields as numbers), then the
 * options of say-options.js (the checkboxes).
 */
export function formBody(form) {
  const body = { text: $('#say-text').value };
  for (const field of form.elements) {
    if (!field.name || field.name === 'text' || field.disabled || field.type === 'checkbox') continue;
    const value = field.value.trim();
    if (value) body[field.name] = field.dataset.number === undefined ? value : Number(value);
  }
  // Checkboxes (cache, clean) and the format are say-options.js's (issue 17).
  Object.assign(body, sayOptions(form));
  return body;
}

/**
 * POSTs a say body to api/say with `button` disabled and progress in #say-result; on success calls `onOk` with
 * the result (which writes the message), on failure shows the error there.
 */
export async function postSay(body, button, busyText, onOk) {
  const out = $('#say-result');
  button.disabled = true;
  out.className = 'result busy';
  out.textContent = busyText;
  try {
    const { body: result } = await getJson('api/say', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
    });
    if (result.ok) {
      out.className = 'result ok';
      out.textContent = onOk(result);
    } else {
      out.className = 'result failed';
      out.textContent = `${result.error?.code ?? 'ERROR'}: ${result.error?.message ?? 'request failed'}`;
    }
  } catch (err) {
    out.className = 'result failed';
    out.textContent = `The hub did not answer: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

async function submitSay(event) {
  event.preventDefault();
  const body = formBody(event.currentTarget);
  await postSay(body, $('#say-submit'), 'Speaking…', (result) => {
    play(result.url, body.text);
    const how = result.cached ? 'from the cache' : `by ${result.engine}`;
    return `Said ${how} in ${formatMs(result.latency_ms.total)}: ${formatMs(result.duration_ms)} of audio, ${formatBytes(result.bytes)}.`;
  });
}

function connectEvents() {
  const live = $('#live');
  const source = new EventSource('api/events');
  source.addEventListener('open', () => {
    live.textContent = 'live';
    live.className = 'pill on';
  });
  source.addEventListener('error', () => {
    live.textContent = 'reconnecting';
    live.className = 'pill off';
  });
  source.addEventListener('status', (e) => {
    renderStatus(JSON.parse(e.data));
    refreshCache().catch(() => {});
    refreshRecordings().catch(() => {});
  });
  source.addEventListener('say', (e) => addRequest(JSON.parse(e.data)));
  source.addEventListener('recorder', () => refreshRecordings().catch(() => {}));
}

function start() {
  $('#say-form').addEventListener('submit', submitSay);
  $('#cache-clear').addEventListener('click', async () => {
    const { ok, body } = await getJson('api/cache', { method: 'DELETE' });
    if (ok) renderCache(body);
  });
  const player = $('#player');
  player.addEventListener('error', () => {
    $('#player-label').textContent = 'This audio could not be played.';
  });
  for (const load of [loadEngines, refreshCache, refreshRecordings, loadVoices]) load().catch(() => {});
  startDoctor();
  connectEvents();
}

start();
