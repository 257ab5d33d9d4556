// TTS Hub panel: how the engines are doing (their instances, recent speed) and the doctor's checks. Plain ES
// module imported by app.js; every URL is relative so it works under Home Assistant's ingress prefix.

import { $, el } from './dom.js';

function ms(value) {
  if (!Number.isFinite(value)) return '–';
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`;
}

function rtf(value) {
  return Number.isFinite(value) ? value.toFixed(2) : '–';
}

/**
 * Adds an engine's instances under its row in the engines list, when it has several: a health dot, the
 * address, and requests running / served.
 */
export function renderInstances(item, engine) {
  const instances = Array.isArray(engine.instances) ? engine.instances : [];
  if (instances.length < 2) return;
  const list = el('ul', undefined, 'instances');
  for (const i of instances) {
    const row = el('li', undefined, i.healthy ? 'healthy' : 'unhealthy');
    row.dataset.endpoint = i.endpoint;
    row.append(
      el('span', '', 'dot'),
      el('span', i.endpoint),
      el('span', ` · ${i.active} busy, ${i.served} served`, 'muted'),
    );
    if (i.error) row.title = i.error;
    list.append(row);
  }
  item.append(list);
}

/**
 * Fills the engine speed table from the engines' rows (GET api/engines or the status event): p50 and p95
 * latency and real-time factor (synthesis time ÷ audio duration) over each engine's recent syntheses.
 */
export function renderEngineSpeed(engines) {
  const body = $('#engine-speed tbody');
  if (!body || !Array.isArray(engines)) return;
  body.replaceChildren();
  for (const e of engines) {
    const s = e.speed;
    const row = el('tr');
    row.dataset.engine = e.name;
    if (!s) {
      const cell = el('td', 'no synthesis yet', 'muted');
      cell.colSpan = 5;
      row.append(el('td', e.name), cell);
    } else {
      row.append(
        el('td', e.name),
        el('td', s.samples),
        el('td', ms(s.p50_ms)),
        el('td', ms(s.p95_ms)),
        el('td', rtf(s.rtf_p50)),
        el('td', rtf(s.rtf_p95)),
      );
    }
    body.append(row);
  }
}

const MARK = { ok: '✓', info: 'i', warn: '!', fail: '✗' };

function renderDoctor(report) {
  const list = $('#doctor-findings');
  list.replaceChildren();
  for (const f of report.findings ?? []) {
    const item = el('li', undefined, `finding ${f.status}`);
    item.dataset.check = f.check;
    item.append(
      el('span', MARK[f.status] ?? '?', 'mark'),
      el('strong', f.check),
      el('span', ` ${f.message}`),
    );
    if (f.fix) item.append(el('div', `→ ${f.fix}`, 'fix small'));
    list.append(item);
  }
  const c = report.counts ?? {};
  const summary = $('#doctor-summary');
  summary.className = `result ${report.green ? 'ok' : 'failed'}`;
  summary.textContent = `${report.green ? 'All green' : 'Needs attention'}: ${c.ok ?? 0} ok, ${c.info ?? 0} info, ${c.warn ?? 0} warnings, ${c.fail ?? 0} failures (${ms(report.took_ms)}).`;
}

/** Wires the doctor's button: runs GET api/doctor and lists each finding with its fix. */
export function startDoctor() {
  const button = $('#doctor-run');
  if (!button) return;
  button.addEventListener('click', async () => {
    button.disabled = true;
    const summary = $('#doctor-summary');
    summary.className = 'result busy';
    summary.textContent = 'Checking ffmpeg, the broker, the share volume and every engine…';
    try {
      const res = await fetch('api/doctor', { headers: { Accept: 'application/json' } });
      renderDoctor(await res.json());
    } catch (err) {
      summary.className = 'result failed';
      summary.textContent = `The hub did not answer: ${err.message}`;
    } finally {
      button.disabled = false;
    }
  });
}
