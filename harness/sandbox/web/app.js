// mxsim sandbox page: reads the network through the API, follows the
// journal through server-sent events, and draws a live sequence diagram.
// No dependencies; every untrusted string goes through textContent.
'use strict';

const token = (location.hash.match(/token=([^&]+)/) || [])[1] || '';
if (token) {
  // EventSource and links cannot send a header: GET requests may carry the
  // token in this cookie instead (the server accepts it only for GET).
  document.cookie = 'mxsim_token=' + token + '; path=/; SameSite=Strict';
}

const state = { hosts: [], zones: [], faults: [], messages: [], messagesDropped: 0, sessions: [], events: [], info: null };
const MAX_ROWS = 400;

// ---- helpers ----

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// api sends body as JSON, or as it is when a contentType is given (a
// text the user wrote: hosts, zones and faults take the scenario's shape,
// JSON or YAML).
async function api(method, path, body, contentType) {
  const headers = {};
  if (token) headers.Authorization = 'Bearer ' + token;
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = contentType || 'application/json';
    init.body = contentType ? body : JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  if (!r.ok) throw new Error((data && data.error) || (r.status + ' ' + r.statusText));
  return data;
}

function showError(err) {
  const box = document.getElementById('error');
  if (!err) { box.hidden = true; box.textContent = ''; return; }
  box.hidden = false;
  box.textContent = String(err.message || err);
}

async function act(fn) {
  try { await fn(); showError(null); } catch (e) { showError(e); }
}

function canon(name) { return String(name || '').toLowerCase().replace(/\.$/, ''); }
function hostByName(name) { return state.hosts.find(h => canon(h.name) === canon(name)); }
function short(s, n) { s = String(s || ''); return s.length > n ? s.slice(0, n - 1) + '…' : s; }
function num(n) { return Number(n).toLocaleString('en'); }

// ---- loading ----

async function loadInfo() {
  state.info = await api('GET', '/api/info');
  const i = state.info;
  let text = 'DNS ' + i.dns + ' · SMTP port ' + i.smtp_port;
  if (i.relay) text += ' · relay submission ' + i.relay.addr;
  document.getElementById('info').textContent = text;
  const flush = document.getElementById('flush');
  flush.hidden = !i.relay;
  flush.onclick = () => act(() => api('POST', '/api/relay/flush'));
}
async function loadHosts() { state.hosts = await api('GET', '/api/hosts'); renderHosts(); renderDomains(); scheduleTimeline(); }
async function loadZones() { state.zones = await api('GET', '/api/zones'); renderDomains(); }
async function loadFaults() { state.faults = await api('GET', '/api/faults'); renderFaults(); }
async function loadMessages() {
  const list = await api('GET', '/api/messages');
  state.messages = list.messages;
  state.messagesDropped = list.dropped;
  renderMessages();
}
async function loadSessions() { state.sessions = await api('GET', '/api/sessions'); renderSessions(); }

const pending = new Set();
let pendingTimer = null;
function refresh(...what) {
  what.forEach(w => pending.add(w));
  if (pendingTimer) return;
  pendingTimer = setTimeout(() => {
    pendingTimer = null;
    const todo = [...pending];
    pending.clear();
    act(() => Promise.all(todo.map(w => w())));
  }, 50);
}

// ---- hosts ----

function renderHosts() {
  const tbody = document.querySelector('#hosts tbody');
  tbody.replaceChildren(...state.hosts.map(h => {
    const down = h.state !== 'up';
    const grey = !!h.behavior.greylist;
    const toggle = down
      ? el('button', { dataset: { action: 'up', host: h.name }, onclick: () => act(async () => { await api('POST', '/api/hosts/' + encodeURIComponent(h.name) + '/up'); await loadHosts(); }) }, 'up')
      : el('button', { class: 'danger', dataset: { action: 'down', host: h.name }, onclick: () => act(async () => { await api('POST', '/api/hosts/' + encodeURIComponent(h.name) + '/down'); await loadHosts(); }) }, 'down');
    const greyBox = el('input', { type: 'checkbox', checked: grey, dataset: { action: 'greylist', host: h.name },
      onchange: (ev) => act(async () => {
        // The host part of a set step: a part given replaces the host's,
        // clear puts one back to normal.
        await api('PATCH', '/api/hosts/' + encodeURIComponent(h.name), ev.target.checked ? { greylist: { window: '30s' } } : { clear: ['greylist'] });
        await loadHosts();
      }) });
    return el('tr', { id: 'host-' + h.name, dataset: { host: h.name } },
      el('td', { class: 'hostname mono' }, h.name, el('small', {}, h.addr)),
      el('td', {}, el('span', { class: 'state badge ' + h.state }, h.state)),
      el('td', { class: 'summary' }, h.summary),
      el('td', { class: 'controls' }, toggle, ' ',
        el('button', { dataset: { action: 'disconnect', host: h.name }, title: 'close open connections',
          onclick: () => act(() => api('POST', '/api/hosts/' + encodeURIComponent(h.name) + '/disconnect')) }, 'kick'),
        el('label', { title: 'greylisting, 30s window' }, greyBox, ' greylist'), ' ',
        el('button', { dataset: { action: 'edit', host: h.name }, title: 'edit the behaviour as a scenario writes it',
          onclick: () => editHost(h) }, 'edit')));
  }));
}

// editHost shows the host's behaviour as a scenario's hosts: writes it,
// to edit and put back whole (GET, edit, PUT).
function editHost(h) {
  const ta = el('textarea', { class: 'behavior mono', rows: 16, spellcheck: 'false', style: 'width: 100%' });
  ta.value = JSON.stringify(h.behavior, null, 2);
  detail('Behaviour of ' + canon(h.name),
    el('p', { class: 'hint' }, 'As under a host of a scenario\'s hosts: (JSON or YAML). Save replaces the whole behaviour.'),
    ta,
    el('button', { dataset: { action: 'save-behavior', host: h.name }, onclick: () => act(async () => {
      await api('PUT', '/api/hosts/' + encodeURIComponent(h.name), ta.value, 'application/yaml');
      await loadHosts();
    }) }, 'save'));
}

// ---- domains and MX sets ----

let editingMX = false; // an MX editor is open: live refreshes must not discard it
function renderDomains() {
  if (editingMX) return;
  const box = document.getElementById('domains');
  box.replaceChildren(...state.zones.map(z => {
    const owners = {};
    for (const mx of z.mx) (owners[mx.owner] = owners[mx.owner] || []).push(mx);
    if (!owners[z.name]) owners[z.name] = [];
    return el('div', { class: 'domain', id: 'zone-' + canon(z.name) },
      el('span', { class: 'name' }, canon(z.name)), z.zone.secure ? el('span', { class: 'secure' }, 'DNSSEC') : null,
      Object.entries(owners).map(([owner, set]) => mxSet(z, owner, set)));
  }));
}

function mxSet(z, owner, set) {
  const wrap = el('div', { class: 'mxset', dataset: { owner } });
  if (canon(owner) !== canon(z.name)) wrap.append(el('span', { class: 'mono' }, canon(owner) + ':'));
  if (set.length === 0) wrap.append(el('span', { class: 'none' }, 'no MX'));
  for (const mx of set) {
    const h = hostByName(mx.host);
    const st = h ? h.state : (mx.host === '.' ? 'null MX' : 'no host');
    wrap.append(el('span', { class: 'mx ' + (h ? h.state : 'unknown'), title: st },
      el('span', { class: 'pref' }, mx.pref), canon(mx.host) || '.'));
  }
  wrap.append(el('button', { dataset: { action: 'edit-mx', zone: z.name }, onclick: () => editMX(wrap, z, owner, set) }, 'edit MX'));
  return wrap;
}

function editMX(wrap, z, owner, set) {
  editingMX = true;
  const ta = el('textarea', { rows: Math.max(2, set.length + 1), placeholder: '10 mx1.example.test' });
  ta.value = set.map(m => m.pref + ' ' + m.host).join('\n');
  const form = el('div', { class: 'mxedit' }, ta,
    el('button', { onclick: () => act(async () => {
      const records = ta.value.split('\n').map(l => l.trim()).filter(Boolean).map(l => {
        const [pref, host] = l.split(/\s+/);
        return 'MX ' + pref + ' ' + (host && !host.endsWith('.') ? host + '.' : host);
      });
      await api('PUT', '/api/zones/' + encodeURIComponent(canon(z.name)) + '/records', { name: owner, type: 'MX', records });
      editingMX = false;
      await loadZones();
    }) }, 'save'), ' ',
    el('button', { onclick: () => { editingMX = false; renderDomains(); } }, 'cancel'),
    el('span', { class: 'hint' }, ' one "preference host" per line; empty removes every MX'));
  wrap.replaceWith(form);
  ta.focus();
}

// ---- faults ----

// faultList flattens the faults view, written zone by zone as a
// scenario's dns: section writes them ({zone: {fault, faults}}).
function faultList() {
  const out = [];
  for (const [zone, z] of Object.entries(state.faults)) {
    if (z.fault) out.push({ ...z.fault, name: zone, whole: true });
    for (const f of z.faults || []) out.push(f);
  }
  return out;
}

function renderFaults() {
  const box = document.getElementById('faults');
  const list = faultList();
  if (list.length === 0) { box.replaceChildren(el('span', { class: 'none' }, 'none')); return; }
  box.replaceChildren(...list.map(f => el('div', { class: 'fault' },
    f.kind + ' on ' + f.name + ' ' + (f.type || 'any type') + (f.whole ? ' (whole zone)' : '') +
      (f.delay ? ' after ' + f.delay : '') + (f.times ? ' ×' + f.times : ''), ' ',
    el('button', { onclick: () => act(async () => {
      if (f.whole) await api('DELETE', '/api/zones/' + encodeURIComponent(f.name) + '/fault');
      else await api('DELETE', '/api/faults?name=' + encodeURIComponent(f.name) + '&type=' + encodeURIComponent(f.type || ''));
      await loadFaults();
    }) }, 'clear'))));
}

document.getElementById('fault-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = ev.target;
  act(async () => {
    // A fault as a scenario writes it: in a set step, or as a zone's fault.
    const body = { kind: f.kind.value };
    if (f.type.value.trim()) body.type = f.type.value.trim();
    if (f.times.value) body.times = Number(f.times.value);
    if (f.zone.checked) {
      await api('PUT', '/api/zones/' + encodeURIComponent(canon(f.name.value)) + '/fault', body);
    } else {
      await api('POST', '/api/faults', { name: f.name.value, ...body });
    }
    await loadFaults();
  });
});

// ---- messages, sessions, details ----

function renderMessages() {
  // The sandbox keeps the last messages only (mxsim sandbox --max-messages).
  const note = document.getElementById('messages-dropped');
  note.hidden = !state.messagesDropped;
  const max = state.info && state.info.limits.max_messages;
  note.textContent = num(state.messagesDropped) + ' older message' + (state.messagesDropped === 1 ? '' : 's') + ' dropped' +
    (max ? ' (the sandbox keeps the last ' + num(max) + ')' : '');
  const tbody = document.querySelector('#messages tbody');
  tbody.replaceChildren(...state.messages.slice().reverse().map(m => el('tr', { class: 'clickable', dataset: { seq: m.seq }, onclick: () => showMessage(m.seq) },
    el('td', {}, m.seq), el('td', { class: 'mono' }, canon(m.host)), el('td', { class: 'mono' }, m.from || '<>'),
    el('td', { class: 'mono' }, (m.to || []).join(', ')), el('td', {}, m.subject || ''))));
}

function renderSessions() {
  const ul = document.getElementById('sessions');
  ul.replaceChildren(...state.sessions.slice().reverse().map(s => el('li', { onclick: () => showTranscript(s.id) },
    s.id + (s.messages ? '  ✉ ' + s.messages : '') + (s.ended ? '' : '  (open)'))));
}

function detail(title, ...children) {
  document.getElementById('detail-title').textContent = title;
  document.getElementById('detail').replaceChildren(...children);
}

function showMessage(seq) {
  act(async () => {
    const m = await api('GET', '/api/messages/' + seq);
    detail('Message ' + seq + ' at ' + canon(m.host),
      el('div', { class: 'hdr' }, el('b', {}, 'envelope: '), (m.from || '<>') + ' → ' + m.to.join(', ')),
      ...m.headers.map(h => el('div', { class: 'hdr' }, el('b', {}, h.name + ': '), h.value)),
      ...(m.parts.length > 1 || m.parts.some(p => p.filename) ? [el('div', { class: 'hdr parts' }, el('b', {}, 'parts: '),
        m.parts.map(p => p.type + (p.filename ? ' "' + p.filename + '"' : '') + ' (' + p.size + ' bytes)').join(', '))] : []),
      ...(m.mime_error ? [el('div', { class: 'hdr mime-error' }, el('b', {}, 'MIME: '), m.mime_error)] : []),
      ...(m.truncated ? [el('div', { class: 'hdr truncated' }, el('b', {}, 'shown: '), 'the first MiB of ' + num(m.size) + ' bytes; the whole message is the ',
        el('a', { href: m.eml, target: '_blank' }, 'raw .eml'))] : []),
      el('pre', { class: 'body text' }, m.text),
      ...(m.text !== m.body ? [el('details', {}, el('summary', {}, 'body as received'), el('pre', { class: 'body raw' }, m.body))] : []),
      el('p', {}, el('a', { href: m.eml, target: '_blank' }, 'raw .eml'), ' · ',
        el('a', { href: '#', onclick: (e) => { e.preventDefault(); showTranscript(m.session); } }, 'transcript of ' + m.session)));
  });
}

function showTranscript(id) {
  act(async () => {
    const t = await api('GET', '/api/sessions/' + encodeURIComponent(id) + '/transcript');
    detail('Transcript ' + id, el('pre', { class: 'transcript' }, t.lines.join('\n')));
  });
}

function showEvent(e) {
  if (e.session) { showTranscript(e.session); return; }
  detail('Event ' + e.seq, el('pre', {}, JSON.stringify(e, null, 2)));
}

// ---- timeline: a sequence diagram drawn from the journal ----

const LANE_GAP = 150, LEFT = 60, TOP = 34, ROW = 20;
let timelineQueued = false;
function scheduleTimeline() {
  if (timelineQueued) return;
  timelineQueued = true;
  requestAnimationFrame(() => { timelineQueued = false; renderTimeline(); });
}

function rowOf(e) {
  const host = canon(e.source);
  const k = e.kind;
  const cls = (code) => code >= 500 ? 'err' : code >= 400 ? 'warn' : code >= 200 && code < 300 ? 'ok' : '';
  switch (k) {
    case 'dns.query': {
      const bad = e.fault || (e.dns && e.dns.rcode && e.dns.rcode !== 'NOERROR');
      return { type: 'arrow', from: 'senders', to: 'dns', label: e.text, cls: bad ? 'err' : 'dns' };
    }
    case 'smtp.refused': return { type: 'arrow', from: 'senders', to: host, label: 'refused: ' + (e.text || ''), cls: 'err', cross: true };
    case 'smtp.connect': return { type: 'arrow', from: 'senders', to: host, label: 'connect from ' + (e.remote || '?'), cls: '' };
    case 'smtp.command': return { type: 'arrow', from: 'senders', to: host, label: e.text, cls: '', command: true };
    case 'smtp.reply': return { type: 'arrow', from: host, to: 'senders', label: e.text, cls: cls(e.code), dashed: true };
    case 'smtp.tls': case 'smtp.auth': case 'smtp.disconnect':
      return { type: 'note', at: host, label: e.text, cls: e.err ? 'err' : '' };
    case 'smtp.message': return { type: 'note', at: host, label: '✉ ' + e.text, cls: 'ok' };
    case 'relay.defer': return { type: 'note', at: 'senders', label: 'relay defer: ' + e.text, cls: 'warn' };
    case 'relay.bounce': return { type: 'note', at: 'senders', label: 'relay bounce: ' + e.text, cls: 'err' };
    case 'relay.deliver': return { type: 'note', at: 'senders', label: 'relay delivered: ' + e.text, cls: 'ok' };
    case 'control': return { type: 'band', label: '⚙ ' + e.text, cls: '' };
    case 'journal.dropped': {
      // Stands for the events up to e.seq that the sandbox no longer
      // holds (mxsim sandbox --max-events); e.missed is how many this page
      // had not seen.
      const max = state.info && state.info.limits.max_events;
      return { type: 'band', label: '⋯ ' + num(e.missed) + ' older events dropped' + (max ? ' (the sandbox keeps the last ' + num(max) + ')' : ''), cls: 'dropped' };
    }
    default: return { type: 'note', at: 'senders', label: k + ': ' + (e.text || ''), cls: e.err ? 'err' : '' };
  }
}

function renderTimeline() {
  const box = document.getElementById('timeline');
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 30;
  const hide = document.getElementById('hide-commands').checked;
  const rows = [];
  for (const e of state.events) {
    const r = rowOf(e);
    if (hide && r.command) continue;
    r.e = e;
    rows.push(r);
  }
  const shown = rows.slice(-MAX_ROWS);
  // Lanes: the senders, DNS, then the hosts the shown rows concern, in
  // the order of the host table (idle hosts take no room).
  const used = new Set(shown.flatMap(r => [r.from, r.to, r.at]).filter(Boolean));
  const lanes = ['senders', 'dns', ...state.hosts.map(h => canon(h.name)).filter(n => used.has(n))];
  for (const n of used) if (!lanes.includes(n)) lanes.push(n);
  const x = (n) => LEFT + 60 + lanes.indexOf(n) * LANE_GAP;
  const width = LEFT + 60 + (lanes.length - 1) * LANE_GAP + 320; // room for notes on the last lane
  const height = 12 + shown.length * ROW + 10;
  const root = svg('svg', { class: 'rows', width, height, viewBox: '0 0 ' + width + ' ' + height });
  for (const n of lanes) {
    root.append(svg('line', { class: 'lane', x1: x(n), x2: x(n), y1: 0, y2: height }));
  }
  shown.forEach((r, i) => {
    const y = 18 + i * ROW;
    const g = svg('g', { class: 'row ' + (r.cls || '') + (r.type === 'note' ? ' note' : '') + (r.type === 'band' ? ' band' : ''), onclick: () => showEvent(r.e) },
      svg('title', {}, '#' + r.e.seq + ' ' + r.e.kind + ' ' + (r.e.session || r.e.source) + ': ' + (r.e.text || '') + (r.e.err ? ' (error: ' + r.e.err + ')' : '')),
      svg('rect', { class: 'hl', x: 0, y: y - 13, width, height: ROW }),
      svg('text', { class: 'time', x: 4, y }, (r.e.ms / 1000).toFixed(2) + 's'));
    if (r.type === 'arrow') {
      const x1 = x(r.from), x2 = x(r.to), dir = x2 > x1 ? 1 : -1;
      g.append(svg('line', { class: 'arrow', x1, x2: x2 - dir * 6, y1: y - 4, y2: y - 4, 'stroke-dasharray': r.dashed ? '4 3' : null }));
      g.append(svg('polygon', { points: `${x2},${y - 4} ${x2 - dir * 7},${y - 8} ${x2 - dir * 7},${y}` }));
      if (r.cross) g.append(svg('text', { class: 'label', x: x2 + 4, y }, '✕'));
      const lx = Math.min(x1, x2) + 6;
      g.append(svg('text', { class: 'label', x: lx, y: y - 7 }, short(r.label, Math.floor(Math.abs(x2 - x1) / 6.6) + 4)));
    } else if (r.type === 'note') {
      const label = short(r.label, 46);
      const w = label.length * 6.7 + 8;
      g.append(svg('rect', { x: x(r.at) + 4, y: y - 13, width: w, height: 16, rx: 3 }));
      g.append(svg('text', { class: 'label', x: x(r.at) + 8, y: y - 1 }, label));
    } else {
      g.append(svg('rect', { x: LEFT, y: y - 13, width: width - LEFT, height: 16 }));
      g.append(svg('text', { x: LEFT + 6, y: y - 1 }, short(r.label, 120)));
    }
    root.append(g);
  });
  const heads = svg('svg', { class: 'heads', width, height: TOP, viewBox: '0 0 ' + width + ' ' + TOP });
  for (const n of lanes) {
    const h = hostByName(n);
    const cls = 'head' + (n === 'dns' ? ' dns' : '') + (h && h.state !== 'up' ? ' down' : '');
    const label = short(n === 'senders' ? 'relay / clients' : n === 'dns' ? 'fake DNS' : n, 22);
    heads.append(svg('g', { class: cls }, svg('title', {}, n + (h ? ' ' + h.addr + ' (' + h.state + ')' : '')),
      svg('rect', { x: x(n) - 70, y: 6, width: 140, height: 22, rx: 4 }),
      svg('text', { x: x(n), y: 21, 'text-anchor': 'middle' }, label)));
  }
  box.replaceChildren(heads, root);
  if (atBottom) box.scrollTop = box.scrollHeight;
}
document.getElementById('hide-commands').addEventListener('change', scheduleTimeline);

// ---- live stream ----

function connect() {
  const live = document.getElementById('live');
  const since = state.events.length ? state.events[state.events.length - 1].seq : 0;
  const es = new EventSource('/api/events?since=' + since);
  es.onopen = () => { live.textContent = 'live'; live.classList.remove('off'); };
  es.onerror = () => { live.textContent = 'reconnecting'; live.classList.add('off'); };
  es.addEventListener('journal', (m) => {
    const e = JSON.parse(m.data);
    const last = state.events.length ? state.events[state.events.length - 1].seq : 0;
    if (e.seq <= last) return;
    if (e.kind === 'journal.dropped') {
      // Kept in the heading too: the band scrolls away with the timeline.
      e.missed = e.seq - last;
      state.eventsMissed = (state.eventsMissed || 0) + e.missed;
      const note = document.getElementById('events-dropped');
      note.hidden = false;
      note.textContent = '· ' + num(state.eventsMissed) + ' older events dropped';
    }
    state.events.push(e);
    if (state.events.length > 4 * MAX_ROWS) state.events.splice(0, state.events.length - 2 * MAX_ROWS);
    if (e.kind === 'control') refresh(loadHosts, loadZones, loadFaults);
    if (e.kind === 'smtp.message') refresh(loadMessages, loadSessions);
    if (e.kind === 'smtp.connect' || e.kind === 'smtp.disconnect') refresh(loadSessions);
    scheduleTimeline();
  });
}

act(async () => {
  await loadInfo();
  await Promise.all([loadHosts(), loadZones(), loadFaults(), loadMessages(), loadSessions()]);
  connect();
});
