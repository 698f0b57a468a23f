// hooktail web page: deliveries, one delivery's timeline and logs, search,
// live tail. Plain JavaScript, no build step, no dependencies: it reads the
// aggregator's public JSON APIs (SPEC §5) and never writes HTML from data
// (every value goes through textContent), so the page's strict
// Content-Security-Policy holds.
'use strict';

(() => {
  const KEY_STORAGE = 'hooktail.apiKey';
  const TZ_STORAGE = 'hooktail.tz';
  const PAGE_SIZE = 50;          // deliveries per page (the API allows 1..100)
  const DELIVERY_LOG_LIMIT = 10000; // /logs/api/entries' maximum
  const SEARCH_PAGE = 100;
  const LIVE_MAX_LINES = 5000;   // lines kept on the live page
  const LIVE_BACKLOG = 100;      // recent lines shown when a live view opens
  const LIVE_SILENCE_MS = 45000; // three of the stream's 15 s heartbeats
  const LIVE_REORDER = 200;      // how far back a late line may go in the live tail,
  const LIVE_REORDER_US = 1e6;   // and by how much time (µs)

  // ---------- small DOM helpers ----------

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  // h builds an element: h('a', {href: '#', class: 'x', data: {id: 1}}, 'text', child).
  // Strings become text nodes; nothing is ever parsed as HTML.
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'data') for (const [dk, dv] of Object.entries(v)) node.dataset[dk] = String(dv);
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function banner(msg) {
    const b = $('#banner');
    if (!msg) { b.hidden = true; b.textContent = ''; return; }
    b.textContent = msg;
    b.hidden = false;
  }

  // ---------- time and number formatting ----------

  let useUTC = localStorage.getItem(TZ_STORAGE) !== 'local';

  function parseTime(s) {
    if (!s) return null;
    const t = Date.parse(s);
    return Number.isNaN(t) ? null : t;
  }
  // parseMicros is parseTime in microseconds: the logs write them, and
  // lines written within one millisecond keep their order by them.
  function parseMicros(s) {
    const ms = parseTime(s);
    if (ms === null) return null;
    const frac = /T[\d:]+\.(\d+)/.exec(s);
    return ms * 1000 + (frac ? Number((frac[1] + '000000').slice(3, 6)) : 0);
  }
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  function fmtTime(ms, withDate = true) {
    if (ms === null || ms === undefined) return '';
    const d = new Date(ms);
    const [Y, M, D, hh, mm, ss, mss] = useUTC
      ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()]
      : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()];
    const clock = `${pad(hh)}:${pad(mm)}:${pad(ss)}.${pad(mss, 3)}`;
    return withDate ? `${Y}-${pad(M)}-${pad(D)} ${clock}` : clock;
  }
  function fmtDuration(ms) {
    if (ms === null || ms === undefined) return '';
    if (ms < 1000) return `${ms} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
    const m = Math.floor(ms / 60000);
    return `${m} min ${Math.round((ms % 60000) / 1000)} s`;
  }
  // The form's datetime-local value <-> the API's RFC 3339 UTC.
  function localInputToISO(v) {
    if (!v) return '';
    const t = useUTC ? Date.parse(v + 'Z') : Date.parse(v);
    return Number.isNaN(t) ? '' : new Date(t).toISOString();
  }
  function isoToLocalInput(s) {
    const t = parseTime(s);
    if (t === null) return '';
    const d = new Date(t);
    return useUTC
      ? d.toISOString().slice(0, 19)
      : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  // ---------- the API client ----------

  class APIError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  function apiKey() { return sessionStorage.getItem(KEY_STORAGE) || ''; }

  function authHeaders(extra) {
    const headers = Object.assign({ Accept: 'application/json' }, extra || {});
    const key = apiKey();
    if (key) headers.Authorization = 'Bearer ' + key;
    return headers;
  }

  // errorMessage reads the message of any of the API families' error shapes.
  function errorMessage(body, status) {
    if (body && typeof body === 'object') {
      if (typeof body.detail === 'string') return body.detail;
      if (Array.isArray(body.detail)) return body.detail.map((d) => `${(d.loc || []).slice(1).join('.')}: ${d.msg}`).join('; ');
      if (typeof body.error === 'string') return body.error;
      if (typeof body.message === 'string') return body.message;
    }
    return `HTTP ${status}`;
  }

  function url(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== '' && v !== undefined && v !== null) q.set(k, v);
    const s = q.toString();
    return s ? `${path}?${s}` : path;
  }

  // api GETs a JSON route. 401 opens the key dialog; every failure throws an
  // APIError with the server's own message.
  async function api(path, params, signal) {
    let res;
    try {
      res = await fetch(url(path, params), { headers: authHeaders(), signal, cache: 'no-store' });
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new APIError(0, `The aggregator cannot be reached (${err.message}).`);
    }
    let body = null;
    try { body = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok) {
      const msg = errorMessage(body, res.status);
      if (res.status === 401) askForKey(apiKey() ? 'The API key was refused: ' + msg : msg);
      throw new APIError(res.status, msg);
    }
    return body;
  }

  function explain(err) {
    if (err.name === 'AbortError') return;
    if (err.status === 401) { banner('An API key is needed: ' + err.message); return; }
    if (err.status === 403) { banner('Not allowed: ' + err.message + (apiKey() ? '' : ' (enter an API key, or open this page from a trusted network)')); return; }
    banner(err.message);
  }

  // ---------- the API key dialog ----------

  let keyDialogOpen = false;
  function askForKey(reason) {
    const dlg = $('#key-dialog');
    $('#key-reason').textContent = reason || 'Enter the API key for this aggregator.';
    if (!keyDialogOpen) {
      keyDialogOpen = true;
      $('#key-input').value = '';
      dlg.showModal();
    }
    $('#key-input').focus();
  }
  function updateKeyButton() {
    $('#key-button').textContent = apiKey() ? 'API key: set' : 'API key';
  }
  function setupKeyDialog() {
    const dlg = $('#key-dialog');
    dlg.addEventListener('close', () => { keyDialogOpen = false; });
    $('#key-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = $('#key-input').value.trim();
      if (!v) return;
      sessionStorage.setItem(KEY_STORAGE, v);
      endpointsCache = null;
      dlg.close();
      updateKeyButton();
      banner('');
      route();
    });
    $('#key-cancel').addEventListener('click', () => dlg.close());
    $('#key-clear').addEventListener('click', () => {
      sessionStorage.removeItem(KEY_STORAGE);
      endpointsCache = null;
      dlg.close();
      updateKeyButton();
      route();
    });
    $('#key-button').addEventListener('click', () => askForKey(apiKey() ? 'Replace or forget the API key.' : 'Enter the API key for this aggregator.'));
    updateKeyButton();
  }

  // ---------- routing ----------

  // The hash is the state: #/deliveries?..., #/delivery/<id>?step=...,
  // #/search?..., #/live?... . A copied URL opens the same view.
  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const qi = raw.indexOf('?');
    const path = qi < 0 ? raw : raw.slice(0, qi);
    const params = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
    const parts = path.split('/').map((p) => { try { return decodeURIComponent(p); } catch (_) { return p; } });
    return { view: parts[0] || 'deliveries', arg: parts.slice(1).join('/'), params };
  }
  function hashFor(view, arg, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== '' && v !== undefined && v !== null) q.set(k, v);
    const s = q.toString();
    return `#/${view}${arg ? '/' + encodeURIComponent(arg) : ''}${s ? '?' + s : ''}`;
  }
  function go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  let current = null; // {abort: AbortController, cleanup?: fn}

  function route() {
    if (current) {
      current.abort.abort();
      if (current.cleanup) current.cleanup();
    }
    const ctl = new AbortController();
    current = { abort: ctl };
    banner('');
    const r = parseHash();
    const views = { deliveries: viewDeliveries, delivery: viewDelivery, search: viewSearch, live: viewLive };
    const fn = views[r.view] || viewDeliveries;
    document.body.dataset.view = views[r.view] ? r.view : 'deliveries';
    document.body.dataset.liveState = '';
    for (const a of $$('header nav a')) a.classList.toggle('active', a.id === 'nav-' + document.body.dataset.view || (r.view === 'delivery' && a.id === 'nav-deliveries'));
    const main = $('#view');
    main.replaceChildren();
    fn(main, r, ctl.signal, current);
  }

  function mount(main, tpl) {
    main.append($('#' + tpl).content.cloneNode(true));
    for (const tz of $$('.tz', main)) tz.textContent = useUTC ? '(UTC)' : '(local time)';
  }

  // Form <-> params: every named field maps to the query parameter of the
  // same name; datetime-local fields hold RFC 3339 UTC in the URL.
  function fillForm(form, params) {
    for (const field of form.elements) {
      if (!field.name) continue;
      const v = params.get(field.name) || '';
      field.value = field.type === 'datetime-local' ? isoToLocalInput(v) : v;
    }
  }
  function readForm(form) {
    const out = {};
    for (const field of form.elements) {
      if (!field.name) continue;
      const v = field.value.trim();
      if (!v) continue;
      out[field.name] = field.type === 'datetime-local' ? localInputToISO(v) : v;
    }
    return out;
  }

  // The endpoints list is shared by the views (it does not follow one
  // view's life) and forgotten when the key changes.
  let endpointsCache = null;
  function endpoints() {
    if (!endpointsCache) {
      endpointsCache = api('/api/endpoints').then((b) => b.data || []);
      endpointsCache.catch(() => { endpointsCache = null; });
    }
    return endpointsCache;
  }
  function fillEndpointSelect(select, list, valueKey, selected) {
    for (const ep of list) select.append(h('option', { value: ep[valueKey] }, ep.name));
    select.value = selected || '';
  }

  // ---------- badges, levels, log lines ----------

  const statusClass = {
    responded: 'ok', completed: 'ok', error: 'bad', failed: 'bad', timeout: 'bad',
    forwarding: 'run', processing: 'run', started: 'run', pending: 'wait', skipped: 'skip',
  };
  function badge(status) {
    return h('span', { class: 'badge ' + (statusClass[status] || 'wait'), text: status || 'unknown' });
  }
  function levelClass(level) {
    const l = (level || '').toUpperCase();
    if (l === 'CRITICAL' || l === 'FATAL') return 'critical';
    if (l === 'ERROR') return 'error';
    if (l === 'WARNING' || l === 'WARN') return 'warning';
    if (l === 'DEBUG') return 'debug';
    if (l === 'INFO' || l === 'SUCCESS' || l === 'STEP') return 'info';
    return 'other';
  }

  const TRACEBACK_START = /\n(?=Traceback \(most recent call last\):)/;
  // splitTraceback separates a record's first lines from a traceback
  // written into its message (upstream's text log).
  function splitTraceback(message) {
    const m = TRACEBACK_START.exec(message || '');
    if (!m) return [message || '', ''];
    return [message.slice(0, m.index), message.slice(m.index + 1)];
  }

  // logLine renders one entry of the webhook-server family (or of /logs,
  // normalised by fromGeneric).
  function logLine(e, opts = {}) {
    const [msg, tbInMsg] = splitTraceback(e.message);
    const exc = e.exc_info || tbInMsg;
    const lc = levelClass(e.level);
    const line = h('div', { class: 'line lv-' + lc + (e.parse_error ? ' raw' : ''), data: { level: (e.level || '').toUpperCase(), id: e.id ?? '', ts: parseMicros(e.timestamp) ?? '' } },
      h('span', { class: 'ts', title: e.timestamp || 'no timestamp' }, fmtTime(parseTime(e.timestamp)) || '—'),
      h('span', { class: 'level' }, e.level || '—'),
      opts.showService && e.service ? h('span', { class: 'svc', title: 'endpoint' }, e.service) : null,
      opts.showRepo && e.repository ? h('span', { class: 'repo' }, e.repository) : null,
      e.step && opts.showStep !== false ? h('span', { class: 'stepname', title: 'step' }, e.step) : null,
      e.parse_error ? h('span', { class: 'flag', title: 'the parser could not read this record; it is stored as written' }, 'raw') : null,
      e.hook_id && opts.linkDelivery ? h('a', { class: 'delivery-link', href: hashFor('delivery', e.hook_id), title: 'open delivery ' + e.hook_id }, e.hook_id.slice(0, 8) + '…') : null,
      h('span', { class: 'msg' }, opts.highlight ? opts.highlight(msg) : msg),
      exc ? h('pre', { class: 'exc' }, opts.highlight ? opts.highlight(exc) : exc) : null,
    );
    return line;
  }

  // highlighter returns a function that marks the searched words'
  // prefixes in a text (as text nodes and <mark> elements), or null when
  // the search has no word.
  function highlighter(search) {
    const words = ((search || '').match(/[\p{L}\p{N}]+/gu) || []).map((w) => w.toLowerCase());
    if (!words.length) return null;
    const esc = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    const re = new RegExp(`(?<![\\p{L}\\p{N}])(${esc.join('|')})`, 'giu');
    return (text) => (text ? highlight(text, re) : text);
  }

  function highlight(text, re) {
    const out = [];
    let last = 0;
    for (const m of text.matchAll(re)) {
      out.push(text.slice(last, m.index), h('mark', null, m[0]));
      last = m.index + m[0].length;
    }
    out.push(text.slice(last));
    return h('span', null, out);
  }

  // fromGeneric turns a /logs (seed 003) log into the entry shape logLine reads.
  function fromGeneric(l) {
    const d = l.details || {};
    return {
      id: l.id, timestamp: l.timestamp, level: l.level, message: l.message, service: l.service,
      hook_id: d.hook_id, repository: d.repository, step: d.step, exc_info: d.exc_info, parse_error: d.parse_error,
    };
  }

  // ---------- view: deliveries ----------

  async function viewDeliveries(main, r, signal) {
    mount(main, 'tpl-deliveries');
    const form = $('#delivery-filters');
    const params = r.params;
    fillForm(form, params);
    const page = Math.max(1, parseInt(params.get('page') || '1', 10) || 1);
    const filters = () => { const f = {}; for (const [k, v] of params) if (k !== 'page') f[k] = v; return f; };

    form.addEventListener('submit', (ev) => { ev.preventDefault(); go(hashFor('deliveries', '', readForm(form))); });
    $('#reset-filters').addEventListener('click', () => go('#/deliveries'));
    $('#prev-page').addEventListener('click', () => go(hashFor('deliveries', '', { ...filters(), page: page - 1 > 1 ? page - 1 : '' })));
    $('#next-page').addEventListener('click', () => go(hashFor('deliveries', '', { ...filters(), page: page + 1 })));
    $('#prev-page').disabled = true;
    $('#next-page').disabled = true;

    endpoints().then((list) => fillEndpointSelect(form.elements.endpoint_id, list, 'id', params.get('endpoint_id'))).catch(() => {});

    const table = $('#deliveries');
    const tbody = $('tbody', table);
    table.setAttribute('aria-busy', 'true');
    let body;
    try {
      body = await api('/api/logs', { ...filters(), page, limit: PAGE_SIZE }, signal);
    } catch (err) {
      explain(err);
      table.setAttribute('aria-busy', 'false');
      tbody.append(h('tr', null, h('td', { colspan: 9, class: 'empty' }, 'Could not load the deliveries.')));
      return;
    }
    const total = body.total || 0;
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    $('#deliveries-total').textContent = `${total.toLocaleString()} deliver${total === 1 ? 'y' : 'ies'}`;
    $('#page-info').textContent = `page ${page.toLocaleString()} of ${pages.toLocaleString()}`;
    $('#prev-page').disabled = page <= 1;
    $('#next-page').disabled = page >= pages;
    const rows = (body.data || []).map(deliveryRow);
    if (!rows.length) rows.push(h('tr', null, h('td', { colspan: 9, class: 'empty' }, total ? 'No deliveries on this page.' : 'No deliveries match these filters.')));
    tbody.replaceChildren(...rows);
    table.setAttribute('aria-busy', 'false');
  }

  function deliveryRow(d) {
    const href = hashFor('delivery', d.id);
    const steps = d.steps || [];
    const failed = steps.filter((s) => s.status === 'failed').map((s) => s.name);
    const tr = h('tr', { class: 'delivery-row', data: { hookId: d.id, status: d.status } },
      h('td', { class: 'status' }, badge(d.status), d.attempt > 1 ? h('span', { class: 'attempt', title: 'attempt' }, ` #${d.attempt}`) : null),
      h('td', { class: 'received', title: d.received_at || '' }, h('a', { class: 'open-delivery', href }, fmtTime(parseTime(d.received_at)) || d.id)),
      h('td', { class: 'event' }, d.event_type || '—'),
      h('td', { class: 'repository' }, d.repository || '—'),
      h('td', { class: 'pr' }, d.pr_number ? '#' + d.pr_number : ''),
      h('td', { class: 'duration num' }, fmtDuration(d.duration_ms)),
      h('td', { class: 'steps' }, steps.length ? `${steps.length}` : '', failed.length ? h('span', { class: 'failedstep' }, ' ✗ ' + failed.join(', ')) : null),
      h('td', { class: 'errors' }, d.has_errors ? h('span', { class: 'errflag', title: d.error_message || 'has ERROR entries or a failed step' }, d.error_message || 'errors') : ''),
      h('td', { class: 'endpoint' }, d.endpoint_name || ''),
    );
    tr.addEventListener('click', (ev) => { if (ev.target.closest('a') === null && !window.getSelection().toString()) go(href); });
    return tr;
  }

  // ---------- view: one delivery ----------

  async function viewDelivery(main, r, signal) {
    mount(main, 'tpl-delivery');
    const id = r.arg;
    const step = r.params.get('step') || '';
    const root = $('#delivery');
    root.dataset.hookId = id;
    $('#delivery-title').textContent = id;
    $('#follow-live').href = hashFor('live', '', { hook_id: id });
    $('#show-all-logs').addEventListener('click', () => go(hashFor('delivery', id)));
    $('#show-all-logs').disabled = !step;
    $('#copy-link').addEventListener('click', async () => {
      try { await navigator.clipboard.writeText(location.href); $('#copy-link').textContent = 'Copied'; } catch (_) { window.prompt('Copy this link', location.href); }
    });

    let d, wf;
    try {
      [d, wf] = await Promise.all([
        api('/api/logs/' + encodeURIComponent(id), null, signal).then((b) => b.data),
        api('/logs/api/workflow-steps/' + encodeURIComponent(id), null, signal).catch((err) => { if (err.status === 404) return null; throw err; }),
      ]);
    } catch (err) {
      explain(err);
      if (err.status === 404) $('#delivery-title').textContent = `${id}: no such delivery (or not visible with this key)`;
      $('#logs').setAttribute('aria-busy', 'false');
      return;
    }
    renderDeliveryHead(d, wf);
    const layout = renderTimeline(d, step);
    renderError(d, wf, step);
    await renderDeliveryLogs(d, step, layout, signal);
  }

  function renderDeliveryHead(d, wf) {
    const st = $('#delivery-status');
    st.replaceWith(Object.assign(badge(d.status), { id: 'delivery-status' }));
    const action = wf && wf.action ? '.' + wf.action : '';
    $('#delivery-title').textContent = `${d.event_type || 'delivery'}${action}${d.repository ? ' · ' + d.repository : ''}${d.pr_number ? ' #' + d.pr_number : ''}`;
    const facts = $('#delivery-facts');
    const fact = (k, v, title) => { if (v !== '' && v !== null && v !== undefined) facts.append(h('dt', null, k), h('dd', { title }, v)); };
    fact('Delivery', d.id);
    fact('Endpoint', d.endpoint_name);
    fact('Received', fmtTime(parseTime(d.received_at)), d.received_at);
    fact('Finished', fmtTime(parseTime(d.responded_at)), d.responded_at);
    fact('Duration', fmtDuration(d.duration_ms));
    if (wf) {
      fact('Sender', wf.sender);
      if (wf.pr && wf.pr.title) fact('PR title', wf.pr.title);
      if (wf.token_spend !== null && wf.token_spend !== undefined) fact('API calls', wf.token_spend);
    }
    if (d.attempts && d.attempts.length > 1) {
      fact('Attempts', d.attempts.map((a) => `#${a.attempt} ${a.status}`).join(', ') + ` (showing #${d.attempt})`);
    }
  }

  // Steps that wrap the whole processing of a delivery (upstream's
  // webhook_routing spans every other step).
  const WRAPPER_STEPS = new Set(['webhook_routing']);

  // layoutSteps places each step on the time axis, in milliseconds from the
  // delivery's start. Steps whose start the logs carry are exact. The
  // others (upstream's text summary gives durations only) are estimated: a
  // wrapper step spans from the start, and the rest follow one another
  // inside it, in the summary's order. A step that never finished runs to
  // the end. Everything is clamped to the axis. An exact step's depth
  // counts the earlier steps whose span contains it; an estimated step is
  // one level under the wrapper.
  function layoutSteps(d) {
    const steps = d.steps || [];
    const known = steps.map((s) => parseTime(s.started_at)).filter((t) => t !== null);
    let t0 = parseTime(d.received_at);
    if (known.length) t0 = t0 === null ? Math.min(...known) : Math.min(t0, ...known);
    if (t0 === null) t0 = 0;
    const hasDur = (s) => s.duration_ms !== null && s.duration_ms !== undefined;
    let total = d.duration_ms || 0;
    const end = parseTime(d.responded_at);
    if (end !== null) total = Math.max(total, end - t0);
    for (const s of steps) {
      const st = parseTime(s.started_at);
      if (st !== null && hasDur(s)) total = Math.max(total, st - t0 + s.duration_ms);
    }
    if (!total) total = Math.max(steps.reduce((a, s) => a + (s.duration_ms || 0), 0), 1);
    const hasWrapper = steps.some((s) => WRAPPER_STEPS.has(s.name));
    if (!known.length && hasWrapper) return layoutEstimated(steps, t0);
    let cursor = 0;
    const placed = steps.map((s) => {
      const st = parseTime(s.started_at);
      const wrapper = WRAPPER_STEPS.has(s.name);
      let start, dur;
      const estimated = st === null;
      if (!estimated) {
        start = st - t0;
        dur = hasDur(s) ? s.duration_ms : total - start;
        if (!wrapper) cursor = Math.max(cursor, start + dur);
      } else if (wrapper) {
        start = 0;
        dur = hasDur(s) ? s.duration_ms : total;
      } else {
        start = cursor;
        dur = hasDur(s) ? s.duration_ms : total - cursor;
        cursor += hasDur(s) ? s.duration_ms : 0;
      }
      start = Math.min(Math.max(start, 0), total);
      dur = Math.min(Math.max(dur, 0), total - start);
      const depth = estimated && hasWrapper && !wrapper ? 1 : 0;
      return { s, start, dur, estimated, open: !hasDur(s), depth, wrapper };
    });
    for (let i = 0; i < placed.length; i++) {
      const a = placed[i];
      if (a.estimated) continue;
      for (let j = 0; j < i; j++) {
        const b = placed[j];
        const slack = Math.max(total * 0.002, 2);
        if (b.start <= a.start + slack && b.start + b.dur + slack >= a.start + a.dur && b.dur > a.dur) a.depth = Math.max(a.depth, b.depth + 1);
      }
    }
    return { t0, total, placed, estimated: placed.some((p) => p.estimated) };
  }

  // layoutEstimated lays out steps none of which has a start time, under a
  // wrapper: the axis is the wrapper's duration (what the summary says the
  // processing took), and the other steps follow one another inside it,
  // scaled down together if their durations add up to more (some of them
  // ran nested or in parallel, which the summary does not say).
  function layoutEstimated(steps, t0) {
    const dur = (s) => (s.duration_ms === null || s.duration_ms === undefined ? null : s.duration_ms);
    const inner = steps.filter((s) => !WRAPPER_STEPS.has(s.name));
    const sum = inner.reduce((a, s) => a + (dur(s) || 0), 0);
    const wrapperDur = Math.max(...steps.filter((s) => WRAPPER_STEPS.has(s.name)).map((s) => dur(s) || 0));
    const total = Math.max(wrapperDur || sum, 1);
    const scale = sum > total ? total / sum : 1;
    let cursor = 0;
    const placed = steps.map((s) => {
      if (WRAPPER_STEPS.has(s.name)) return { s, start: 0, dur: total, estimated: true, open: dur(s) === null, depth: 0, wrapper: true };
      const start = Math.min(cursor, total);
      const d = dur(s) === null ? total - start : Math.min(dur(s) * scale, total - start);
      if (dur(s) !== null) cursor += dur(s) * scale;
      return { s, start, dur: d, estimated: true, open: dur(s) === null, depth: 1, wrapper: false };
    });
    return { t0, total, placed, estimated: true };
  }

  function renderTimeline(d, selected) {
    const tl = $('#timeline');
    const layout = layoutSteps(d);
    if (!layout.placed.length) {
      tl.append(h('p', { class: 'empty' }, 'The logs name no steps for this delivery.'));
      return layout;
    }
    const axis = h('div', { class: 'axis' }, h('span', { class: 'label' }, ''), h('span', { class: 'track' },
      [0, 0.25, 0.5, 0.75, 1].map((f) => {
        const tick = h('span', { class: 'tick' }, fmtDuration(Math.round(layout.total * f)));
        tick.style.left = (f * 100) + '%';
        return tick;
      })));
    tl.append(axis);
    for (const p of layout.placed) {
      const s = p.s;
      const failed = s.status === 'failed';
      const href = hashFor('delivery', d.id, { step: s.name });
      const bar = h('span', { class: 'bar' + (p.estimated ? ' estimated' : '') + (p.open ? ' open' : ''), title: stepTitle(s, p) },
        h('span', { class: 'barlabel' }, fmtDuration(s.duration_ms) || s.status));
      bar.style.left = (100 * p.start / layout.total) + '%';
      bar.style.width = Math.max(0.4, 100 * p.dur / layout.total) + '%';
      const row = h('div', {
        class: `step st-${statusClass[s.status] || 'wait'}${failed ? ' failed' : ''}${s.name === selected ? ' selected' : ''}`,
        data: { step: s.name, status: s.status, depth: p.depth },
      },
      h('span', { class: 'label' },
        h('span', { class: 'indent' }, '  '.repeat(p.depth)),
        h('a', { class: 'step-link', href, title: 'show this step\'s log lines' }, s.name),
        ' ', h('span', { class: 'stepstatus' }, s.status)),
      h('span', { class: 'track' }, bar));
      row.style.setProperty('--depth', p.depth);
      row.addEventListener('click', (ev) => { if (!ev.target.closest('a')) go(href); });
      tl.append(row);
    }
    if (layout.estimated) {
      const note = $('#timeline-note');
      note.textContent = 'Hatched bars: the logs give these steps\' durations but not their start times, so they are placed one after another, in order, inside the wrapping step.';
      note.hidden = false;
    }
    return layout;
  }

  function stepTitle(s, p) {
    const parts = [`${s.name}: ${s.status}`];
    if (s.duration_ms !== null && s.duration_ms !== undefined) parts.push(fmtDuration(s.duration_ms));
    if (s.started_at) parts.push('started ' + s.started_at);
    if (p.estimated) parts.push('(start estimated)');
    if (s.error && s.error.message) parts.push('error: ' + s.error.message);
    return parts.join(' · ');
  }

  function renderError(d, wf, selected) {
    const box = $('#delivery-error');
    const errs = [];
    for (const s of d.steps || []) if (s.error && (s.error.message || s.error.traceback)) errs.push({ where: `Step ${s.name}`, e: s.error, step: s.name });
    if (wf && wf.error && (wf.error.message || wf.error.traceback)) {
      if (!errs.some((x) => x.e.traceback && x.e.traceback === wf.error.traceback)) errs.push({ where: 'Delivery', e: wf.error });
    } else if (d.error_message && !errs.length) {
      errs.push({ where: 'Delivery', e: { message: d.error_message } });
    }
    if (!errs.length) return;
    const shown = selected ? errs.filter((x) => !x.step || x.step === selected) : errs;
    for (const x of shown.length ? shown : errs) {
      box.append(h('div', { class: 'err' },
        h('h3', null, `${x.where} failed: `, h('span', { class: 'errtype' }, x.e.type ? x.e.type + ': ' : ''), x.e.message || ''),
        x.e.traceback ? h('pre', { class: 'traceback' }, x.e.traceback) : null));
    }
    box.hidden = false;
  }

  async function renderDeliveryLogs(d, step, layout, signal) {
    const logs = $('#logs');
    const note = $('#logs-note');
    const setNote = (...parts) => { note.replaceChildren(...parts); note.hidden = !parts.length; };
    logs.setAttribute('aria-busy', 'true');
    let entries = [];
    try {
      if (step) {
        $('#logs-title').textContent = `Log lines of step ${step}`;
        try {
          const b = await api(`/logs/api/step-logs/${encodeURIComponent(d.id)}/${encodeURIComponent(step)}`, null, signal);
          entries = b.logs || [];
          const s = (d.steps || []).find((x) => x.name === step);
          const p = layout.placed.find((x) => x.s.name === step);
          if (s && !s.started_at && p && p.estimated) setNote('The logs do not say when this step started: these are the lines of the whole attempt it ran in.');
        } catch (err) {
          if (err.status !== 403) throw err;
          // step-logs is for trusted networks only (SPEC §5.5): from
          // elsewhere, take the delivery's lines and keep the step's.
          const all = await deliveryEntries(d.id, signal);
          entries = all.entries.filter((e) => e.step === step);
          if (entries.length) {
            setNote(`Step logs are served to trusted networks only; showing this delivery's lines marked with step ${step}.`);
          } else {
            // The text log marks no line with its step: all of them.
            entries = all.entries;
            setNote(`Step logs are served to trusted networks only, and no line of this delivery is marked with step ${step}: showing all of its lines.`);
          }
        }
      } else {
        $('#logs-title').textContent = 'Log lines of the whole delivery';
        const all = await deliveryEntries(d.id, signal);
        entries = all.entries;
        if (all.total > entries.length) {
          setNote(`Showing the first ${entries.length.toLocaleString()} of ${all.total.toLocaleString()} lines; `,
            h('a', { href: hashFor('search', '', { hook_id: d.id }) }, 'search this delivery'), ' for the others.');
        }
      }
    } catch (err) {
      explain(err);
      logs.setAttribute('aria-busy', 'false');
      return;
    }
    const multi = (d.attempts || []).length > 1;
    const lines = [];
    let lastAttempt = null;
    for (const e of entries) {
      if (multi && e.attempt && e.attempt !== lastAttempt) {
        lines.push(h('div', { class: 'sep' }, `attempt #${e.attempt}`));
        lastAttempt = e.attempt;
      }
      lines.push(logLine(e, { showStep: !step }));
    }
    if (!entries.length) lines.push(h('p', { class: 'empty' }, 'No log lines.'));
    logs.replaceChildren(...lines);
    logs.setAttribute('aria-busy', 'false');
    const apply = () => filterLines(logs, $('#logs-filter').value, $('#logs-errors-only').checked);
    $('#logs-filter').addEventListener('input', apply);
    $('#logs-errors-only').addEventListener('change', apply);
    const first = $('.line.lv-error, .line.lv-critical', logs);
    if (step && first) first.scrollIntoView({ block: 'nearest' });
  }

  // deliveryEntries returns a delivery's entries oldest first, with their
  // total: all of them, or the first DELIVERY_LOG_LIMIT when there are
  // more (a failure's cause is usually near the start).
  async function deliveryEntries(id, signal) {
    const b = await api('/logs/api/entries', { hook_id: id, limit: DELIVERY_LOG_LIMIT }, signal);
    const newest = b.entries || [];
    const total = typeof b.total === 'number' ? b.total : newest.length;
    if (total <= newest.length) return { entries: newest.slice().reverse(), total };
    // The oldest page; lines stored between the two requests may shift it
    // by as many lines, which the note's link to the search view covers.
    const first = await api('/logs/api/entries', { hook_id: id, limit: DELIVERY_LOG_LIMIT, offset: total - DELIVERY_LOG_LIMIT }, signal);
    return { entries: (first.entries || []).slice().reverse(), total };
  }

  function filterLines(root, text, errorsOnly) {
    const needle = text.trim().toLowerCase();
    for (const line of $$('.line', root)) {
      const lv = levelClass(line.dataset.level);
      const okLevel = !errorsOnly || lv === 'warning' || lv === 'error' || lv === 'critical';
      const okText = !needle || line.textContent.toLowerCase().includes(needle);
      line.hidden = !(okLevel && okText);
    }
  }

  // ---------- view: search ----------

  async function viewSearch(main, r, signal) {
    mount(main, 'tpl-search');
    const form = $('#search-filters');
    fillForm(form, r.params);
    form.addEventListener('submit', (ev) => { ev.preventDefault(); go(hashFor('search', '', readForm(form))); });
    endpoints().then((list) => fillEndpointSelect(form.elements.service, list, 'name', r.params.get('service'))).catch(() => {});
    const filters = {};
    for (const [k, v] of r.params) filters[k] = v;
    const results = $('#search-results');
    const more = $('#search-more');
    if (!Object.keys(filters).length) {
      $('#search-total').textContent = 'Search every stored log line: words match by prefix, "quoted words" as a phrase.';
      form.elements.search.focus();
      return;
    }
    let offset = 0;
    const lineOpts = { showService: true, showRepo: true, linkDelivery: true, highlight: highlighter(filters.search) };
    const load = async () => {
      results.setAttribute('aria-busy', 'true');
      more.disabled = true;
      try {
        const b = await api('/logs', { ...filters, limit: SEARCH_PAGE, offset }, signal);
        const pg = b.data.pagination;
        $('#search-total').textContent = `${pg.total.toLocaleString()} matching line${pg.total === 1 ? '' : 's'}, newest first`;
        const frag = document.createDocumentFragment();
        for (const l of b.data.logs) frag.append(logLine(fromGeneric(l), lineOpts));
        results.append(frag);
        if (!b.data.logs.length && offset === 0) results.append(h('p', { class: 'empty' }, 'Nothing matches.'));
        offset = pg.nextOffset ?? offset;
        more.hidden = pg.nextOffset === null || pg.nextOffset === undefined;
      } catch (err) {
        explain(err);
      } finally {
        more.disabled = false;
        results.setAttribute('aria-busy', 'false');
      }
    };
    more.addEventListener('click', load);
    await load();
  }

  // ---------- view: live tail ----------

  // The stream is /logs/api/stream (server-sent events), read with fetch so
  // the API key can go in a header. Each event carries the entry's id; on
  // any break the page reconnects with Last-Event-ID, and the aggregator
  // sends every entry after it: no gap, and ids at or below the last one
  // shown are dropped, so no duplicate either.
  function viewLive(main, r, signal, cur) {
    mount(main, 'tpl-live');
    const form = $('#live-filters');
    fillForm(form, r.params);
    form.addEventListener('submit', (ev) => { ev.preventDefault(); go(hashFor('live', '', readForm(form))); });
    const filters = {};
    for (const [k, v] of r.params) filters[k] = v;
    const box = $('#live-lines');
    const pauseBtn = $('#live-pause');
    const stick = $('#live-stick');
    let paused = false;
    let pending = [];
    let lastId = null;
    let shown = 0;

    const setState = (s, detail) => {
      document.body.dataset.liveState = s;
      $('#live-state').textContent = detail ? `${s}: ${detail}` : s;
      $('#live-state').className = 'state st-' + s;
    };
    let dropped = false; // lines dropped from pending while paused
    const showPending = () => {
      $('#live-pending').textContent = pending.length ? `${pending.length}${dropped ? '+' : ''} new while paused${dropped ? ' (older ones dropped)' : ''}` : '';
    };
    // Lines are shown in the order they were written: entries arrive in
    // the order they were stored, and two files of one source (a log and
    // the one it was just rotated into) are read side by side, so a line
    // can arrive just after a later one. It goes back among the last
    // LIVE_REORDER lines by its time.
    const tsOf = (node) => (node.dataset.ts === '' ? NaN : Number(node.dataset.ts));
    const append = (entries) => {
      if (!entries.length) return;
      const atBottom = stick.checked;
      let frag = document.createDocumentFragment();
      let fragLast = NaN;
      for (const e of entries.slice(-LIVE_MAX_LINES)) {
        // A fill older than every line of a full page would be dropped
        // at once: skip it before building it.
        if (e.fill && box.childElementCount >= LIVE_MAX_LINES && parseMicros(e.timestamp) < tsOf(box.firstElementChild)) continue;
        const line = logLine(e, { showRepo: !filters.repository, linkDelivery: !filters.hook_id });
        const t = tsOf(line);
        const last = frag.lastChild ? fragLast : (box.lastElementChild ? tsOf(box.lastElementChild) : NaN);
        // Only a fill goes far back; any other line only among the lines
        // of its last second (another host's clock may lag: its lines are
        // not buried).
        if (Number.isNaN(t) || Number.isNaN(last) || t >= last || (!e.fill && last - t > LIVE_REORDER_US)) {
          frag.append(line);
          if (!Number.isNaN(t)) fragLast = t;
          continue;
        }
        box.append(frag);
        frag = document.createDocumentFragment();
        fragLast = NaN;
        let after = box.lastElementChild;
        const reach = e.fill ? Infinity : LIVE_REORDER;
        for (let i = 0; after && i < reach && tsOf(after) > t; i++) after = after.previousElementSibling;
        if (after) after.after(line); else box.prepend(line);
      }
      box.append(frag);
      shown += entries.length;
      while (box.childElementCount > LIVE_MAX_LINES) box.firstElementChild.remove();
      if (atBottom) box.lastElementChild.scrollIntoView({ block: 'end' });
    };
    // The connection's state, shown as it is, or next to "paused".
    let conn = 'connecting';
    let connDetail = '';
    const showState = () => {
      if (paused) setState('paused', conn === 'live' ? '' : conn + (connDetail ? ' (' + connDetail + ')' : ''));
      else setState(conn, connDetail);
    };
    const setConn = (s, detail) => { conn = s; connDetail = detail || ''; showState(); };
    pauseBtn.addEventListener('click', () => {
      paused = !paused;
      pauseBtn.setAttribute('aria-pressed', String(paused));
      pauseBtn.textContent = paused ? 'Resume' : 'Pause';
      if (!paused) {
        const batch = pending;
        pending = [];
        dropped = false;
        showPending();
        append(batch);
      }
      showState();
    });
    $('#live-clear').addEventListener('click', () => { box.replaceChildren(); pending = []; dropped = false; showPending(); });

    // Lines wait for the next frame to be drawn together. A hidden tab
    // draws no frames: what waits is bounded like what is shown.
    let queue = [];
    let flushScheduled = false;
    const flush = () => { flushScheduled = false; const q = queue; queue = []; append(q); };
    // seen holds the ids taken (shown, waiting or held while paused): a
    // fill (an entry that joined this delivery after the stream passed its
    // id) comes again after a reconnect.
    let seen = new Set();
    const remember = (id) => {
      seen.add(id);
      if (seen.size > 4 * LIVE_MAX_LINES) {
        seen = new Set([...$$('.line', box).map((l) => Number(l.dataset.id)), ...queue.map((q) => q.id), ...pending.map((q) => q.id)]);
      }
    };
    const onFill = (e) => {
      if (seen.has(e.id)) return;
      remember(e.id);
      e.fill = true;
      take(e);
    };
    const onEntry = (e) => {
      if (lastId !== null && e.id <= lastId) return; // already shown
      lastId = e.id;
      remember(e.id);
      take(e);
    };
    const take = (e) => {
      if (paused) {
        pending.push(e);
        if (pending.length > LIVE_MAX_LINES) { pending.shift(); dropped = true; } // resume would drop it anyway
        showPending();
        return;
      }
      queue.push(e);
      if (queue.length > LIVE_MAX_LINES) queue.shift();
      if (!flushScheduled) { flushScheduled = true; requestAnimationFrame(flush); }
    };

    let attempt = 0;
    // The watchdog drops a connection silent for three heartbeats (the
    // server says its heartbeat in the ready event).
    let silenceMs = LIVE_SILENCE_MS;
    const run = async () => {
      while (!signal.aborted) {
        setConn(attempt ? 'reconnecting' : 'connecting', connDetail);
        const params = { ...filters };
        const headers = authHeaders({ Accept: 'text/event-stream' });
        if (lastId !== null) headers['Last-Event-ID'] = String(lastId);
        else params.backlog = LIVE_BACKLOG;
        // One controller per connection: the view's end aborts it, and so
        // does the watchdog when the stream has been silent for three
        // heartbeats (a connection dropped without a FIN).
        const ctl = new AbortController();
        const abortConn = () => ctl.abort();
        signal.addEventListener('abort', abortConn, { once: true });
        let lastByte = Date.now();
        let silent = false;
        const watchdog = setInterval(() => {
          if (Date.now() - lastByte > silenceMs) { silent = true; ctl.abort(); }
        }, 5000);
        let why = 'the stream ended';
        try {
          const res = await fetch(url('/logs/api/stream', params), { headers, signal: ctl.signal, cache: 'no-store' });
          if (!res.ok) {
            let body = null;
            try { body = await res.json(); } catch (_) { /* not JSON */ }
            const msg = errorMessage(body, res.status);
            if (res.status === 401) askForKey(msg);
            if (res.status >= 400 && res.status < 500) { setConn('stopped', msg); explain(new APIError(res.status, msg)); return; }
            why = msg;
          } else {
            await readEvents(res.body, ctl.signal, () => { lastByte = Date.now(); }, (ev) => {
              if (ev.event === 'ready') {
                // The server has considered every entry up to last_id: go
                // on from there, also when nothing matched yet, and when
                // its ids went back (a new database).
                try {
                  const r = JSON.parse(ev.data);
                  if (typeof r.last_id === 'number') {
                    if (lastId !== null && r.last_id < lastId) seen = new Set(); // a new database: its ids start again
                    lastId = r.last_id;
                  }
                  if (typeof r.heartbeat_ms === 'number' && r.heartbeat_ms > 0) silenceMs = 3 * r.heartbeat_ms;
                } catch (_) { /* keep the last entry's id */ }
                attempt = 0;
                banner('');
                setConn('live');
              } else if (ev.event === 'entry' || ev.event === 'message') {
                let e;
                try { e = JSON.parse(ev.data); } catch (_) { return; }
                if (ev.id && (e.id === undefined || e.id === null)) e.id = Number(ev.id);
                onEntry(e);
              } else if (ev.event === 'fill') {
                let e;
                try { e = JSON.parse(ev.data); } catch (_) { return; }
                if (typeof e.id === 'number') onFill(e);
              }
            });
          }
        } catch (err) {
          why = silent ? `no data for ${Math.round(silenceMs / 1000)} s` : 'the aggregator cannot be reached';
        } finally {
          clearInterval(watchdog);
          signal.removeEventListener('abort', abortConn);
        }
        if (signal.aborted) return;
        await retryWait(why);
      }
    };
    const retryWait = (why) => {
      attempt++;
      setConn('reconnecting', why);
      const delay = Math.min(1000 * attempt, 5000);
      return new Promise((resolve) => {
        const done = () => { clearTimeout(t); signal.removeEventListener('abort', done); resolve(); };
        const t = setTimeout(done, delay);
        signal.addEventListener('abort', done, { once: true });
      });
    };
    cur.cleanup = () => { document.body.dataset.liveState = ''; };
    run();
    // For tests and benchmarks: what the live view has shown.
    window.hooktailLive = { shown: () => shown, lastId: () => lastId };
  }

  // readEvents parses a text/event-stream body (the WHATWG format: lines of
  // field: value, events ended by a blank line, comments starting ':'),
  // calling onBytes for every chunk and onEvent for every event.
  async function readEvents(body, signal, onBytes, onEvent) {
    const reader = body.getReader();
    const cancel = () => reader.cancel().catch(() => {});
    signal.addEventListener('abort', cancel, { once: true });
    try {
      const dec = new TextDecoder();
      let buf = '';
      let ev = { event: 'message', data: [], id: '' };
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        onBytes();
        buf += dec.decode(value, { stream: true });
        // Lines end with \n, \r\n or \r. A \r at the very end may be the
        // first half of a \r\n: it waits for the next chunk. Each search
        // runs again only once passed, so a chunk is scanned once.
        let pos = 0;
        let lf = buf.indexOf('\n');
        let cr = buf.indexOf('\r');
        for (;;) {
          if (lf >= 0 && lf < pos) lf = buf.indexOf('\n', pos);
          if (cr >= 0 && cr < pos) cr = buf.indexOf('\r', pos);
          const nl = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
          if (nl < 0 || (nl === cr && nl + 1 >= buf.length)) break;
          const line = buf.slice(pos, nl);
          pos = nl + (nl === cr && buf[nl + 1] === '\n' ? 2 : 1);
          if (line === '') {
            if (ev.data.length) onEvent({ event: ev.event, data: ev.data.join('\n'), id: ev.id });
            ev = { event: 'message', data: [], id: ev.id };
            continue;
          }
          if (line.startsWith(':')) continue;
          const ci = line.indexOf(':');
          const field = ci < 0 ? line : line.slice(0, ci);
          let val = ci < 0 ? '' : line.slice(ci + 1);
          if (val.startsWith(' ')) val = val.slice(1);
          if (field === 'data') ev.data.push(val);
          else if (field === 'event') ev.event = val;
          else if (field === 'id') ev.id = val;
        }
        buf = buf.slice(pos);
      }
    } finally {
      signal.removeEventListener('abort', cancel);
    }
  }

  // ---------- start ----------

  function setupTZ() {
    const b = $('#tz-toggle');
    const show = () => { b.textContent = useUTC ? 'Times: UTC' : 'Times: local'; };
    b.addEventListener('click', () => {
      useUTC = !useUTC;
      localStorage.setItem(TZ_STORAGE, useUTC ? 'utc' : 'local');
      show();
      route();
    });
    show();
  }

  // A browser sent to /logs?search=… (the generic logs API's URL) gets
  // the search view with the same filters: they have the same names.
  if (location.pathname === '/logs' && location.search && !location.hash) {
    const q = new URLSearchParams(location.search);
    for (const k of ['limit', 'offset']) q.delete(k);
    history.replaceState(null, '', '/logs#/search' + (q.toString() ? '?' + q.toString() : ''));
  }
  setupKeyDialog();
  setupTZ();
  window.addEventListener('hashchange', route);
  route();
})();
