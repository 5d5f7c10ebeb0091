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

const state = { hosts: [], zones: [], faults: [], messages: [], messagesDropped: 0, messagesDeleted: 0, sessions: [], events: [], info: null, queue: [], queueErr: '' };
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

// showError shows err in box (the page's error line by default), or
// clears the box when err is null.
function showError(err, box) {
  box = box || document.getElementById('error');
  if (!err) { box.hidden = true; box.textContent = ''; return; }
  box.hidden = false;
  box.textContent = String(err.message || err);
}

// act runs fn and shows its error in box: a form's own box, next to it,
// or the page's error line.
async function act(fn, box) {
  try { await fn(); showError(null, box); } catch (e) { showError(e, box); }
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
  flush.onclick = () => act(async () => { await api('POST', '/api/relay/flush'); await loadQueue(); });
  document.getElementById('queue-panel').hidden = !i.relay;
}
async function loadHosts() {
  state.hosts = await api('GET', '/api/hosts');
  renderHosts(); renderDomains(); renderSendVia(); scheduleTimeline();
  // A form nobody has touched follows changes made elsewhere (the API, a
  // scenario step); one being edited is left alone.
  const h = editing && hostByName(editing);
  if (h && !formDirty && JSON.stringify(h.behavior) !== formShows) editHost(h);
}
async function loadZones() { state.zones = await api('GET', '/api/zones'); renderDomains(); }
async function loadFaults() { state.faults = await api('GET', '/api/faults'); renderFaults(); }
async function loadMessages() {
  const q = document.getElementById('message-search').value.trim();
  const list = await api('GET', '/api/messages' + (q ? '?q=' + encodeURIComponent(q) : ''));
  state.messages = list.messages;
  state.messagesDropped = list.dropped;
  state.messagesDeleted = list.deleted;
  renderMessages();
}
async function loadSessions() { state.sessions = await api('GET', '/api/sessions'); renderSessions(); renderSendVia(); }
async function loadQueue() {
  if (!state.info || !state.info.relay) return;
  try {
    state.queue = (await api('GET', '/api/queue')).messages;
    state.queueErr = '';
  } catch (e) {
    state.queue = [];
    state.queueErr = String(e.message || e);
  }
  renderQueue();
}

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
      el('td', { class: 'summary', title: h.summary }, el('div', { class: 'clamp' }, h.summary)),
      el('td', { class: 'controls' }, toggle, ' ',
        el('button', { dataset: { action: 'disconnect', host: h.name }, title: 'close open connections',
          onclick: () => act(() => api('POST', '/api/hosts/' + encodeURIComponent(h.name) + '/disconnect')) }, 'kick'),
        el('label', { title: 'greylisting, 30s window' }, greyBox, ' greylist'), ' ',
        el('button', { dataset: { action: 'edit', host: h.name }, title: 'every part of the behaviour, in a form',
          onclick: () => editHost(h) }, 'edit')));
  }));
}

// editYAML shows the host's behaviour as a scenario's hosts: writes it,
// to edit and put back whole (GET, edit, PUT).
function editYAML(h) {
  const ta = el('textarea', { class: 'behavior mono', rows: 16, spellcheck: 'false', style: 'width: 100%' });
  ta.value = JSON.stringify(h.behavior, null, 2);
  detail('Behaviour of ' + canon(h.name),
    el('p', { class: 'hint' }, 'As under a host of a scenario\'s hosts: (JSON or YAML). Save replaces the whole behaviour.'),
    ta,
    el('button', { dataset: { action: 'save-behavior', host: h.name }, onclick: () => act(async () => {
      await api('PUT', '/api/hosts/' + encodeURIComponent(h.name), ta.value, 'application/yaml');
      await loadHosts();
      if (editing && canon(editing) === canon(h.name)) editHost(hostByName(h.name));
    }) }, 'save'));
}
// ---- behaviour form, generated from the scenario schema ----
//
// GET /api/schema gives the JSON Schema of scenario files and the parts
// of a host's behaviour; the form below is built from it alone, so a part
// added to the Go types shows up here with no change to this page. Save
// PUTs the parts switched on, as a host under a scenario's hosts: writes
// them, and the server checks them as it checks a scenario.

let schemaDoc = null;
async function loadSchema() { schemaDoc = await api('GET', '/api/schema'); }

// resolve follows $ref into $defs; a description next to the $ref wins.
function resolve(s) {
  let out = s || {};
  while (out.$ref) {
    const name = out.$ref.replace('#/$defs/', '');
    const def = schemaDoc.schema.$defs[name] || {};
    out = { ...def, $name: name, description: out.description || def.description };
  }
  return out;
}
function typeOf(s) { return Array.isArray(s.type) ? s.type.find(t => t !== 'null') : s.type; }
function firstLine(d) { return String(d || '').split('\n')[0]; }
const placeholders = { duration: '30s', reply_string: '451 4.7.1 try again later', code: '451' };

// chooseAlt picks what a oneOf is edited as: a list over one item, a map
// over a string (a rule's {reply, match, times} over "451 …").
function chooseAlt(s) {
  const alts = s.oneOf.map(resolve);
  return alts.find(a => typeOf(a) === 'array') || alts.find(a => typeOf(a) === 'object') || alts[0];
}

// field returns {node, get} for value under schema s at path ("replies.rcpt.0.reply").
function field(s0, value, path) {
  let s = resolve(s0);
  let fromString = false;
  if (s.oneOf) {
    const alt = chooseAlt(s);
    fromString = s.oneOf.map(resolve).some(a => typeOf(a) === 'string');
    s = { ...alt, description: s.description || alt.description };
    if (typeOf(s) === 'array' && value !== undefined && value !== null && !Array.isArray(value)) value = [value];
    if (typeOf(s) === 'object' && typeof value === 'string') value = { [(s.required || [])[0]]: value };
  }
  const title = firstLine(s.description);
  const t = typeOf(s);
  if (s.enum) {
    const sel = el('select', { 'data-path': path, title },
      el('option', { value: '' }, '—'), ...s.enum.map(v => el('option', { value: v, selected: value === v }, v)));
    return { node: sel, get: () => sel.value || undefined };
  }
  if (t === 'boolean') {
    const cb = el('input', { type: 'checkbox', 'data-path': path, checked: !!value, title });
    return { node: cb, get: () => cb.checked || undefined };
  }
  if (t === 'integer' || t === 'number') {
    const inp = el('input', { type: 'number', 'data-path': path, min: s.minimum, step: t === 'integer' ? 1 : 'any', title, size: 8 });
    if (value !== undefined && value !== null) inp.value = value;
    return { node: inp, get: () => inp.value === '' ? undefined : Number(inp.value) };
  }
  if (t === 'array') {
    const items = resolve(s.items);
    if (typeOf(items) === 'string' && !items.oneOf) {
      const inp = el('input', { 'data-path': path, title, placeholder: 'a, b, …', size: 30 });
      inp.value = (value || []).join(', ');
      return { node: inp, get: () => { const l = inp.value.split(',').map(x => x.trim()).filter(Boolean); return l.length ? l : undefined; } };
    }
    const list = el('div', { class: 'form-list', 'data-path': path });
    const rows = [];
    const addRow = (v) => {
      const f = field(s.items, v, path + '.' + rows.length);
      const row = el('div', { class: 'form-row' }, f.node);
      const entry = { f, row };
      row.append(el('button', { type: 'button', class: 'small', title: 'remove', 'data-action': 'remove', onclick: () => { rows.splice(rows.indexOf(entry), 1); row.remove(); } }, '×'));
      rows.push(entry);
      list.insertBefore(row, add);
    };
    const add = el('button', { type: 'button', class: 'small', 'data-action': 'add', 'data-path': path, onclick: () => addRow(undefined) }, '+ add');
    list.append(add);
    for (const v of value || []) addRow(v);
    return { node: list, get: () => { const l = rows.map(r => r.f.get()).filter(v => v !== undefined); return l.length ? l : undefined; } };
  }
  if (t === 'object' && s.properties) {
    const box = el('div', { class: 'form-object', 'data-path': path });
    const subs = [];
    for (const [k, ps] of Object.entries(s.properties)) {
      const f = field(ps, value ? value[k] : undefined, path ? path + '.' + k : k);
      subs.push([k, f]);
      box.append(el('label', { class: 'form-field', title: resolve(ps).description || '' }, el('span', { class: 'form-key' }, k), f.node));
    }
    const req = (s.required || [])[0];
    return { node: box, get: () => {
      const o = {};
      for (const [k, f] of subs) { const v = f.get(); if (v !== undefined) o[k] = v; }
      const keys = Object.keys(o);
      if (keys.length === 0) return undefined;
      if (fromString && keys.length === 1 && keys[0] === req) return o[req]; // "451 …" rather than {reply: "451 …"}
      return o;
    } };
  }
  if (t === 'object' && s.additionalProperties) {
    const ta = el('textarea', { 'data-path': path, rows: 2, cols: 30, title, placeholder: 'one "key: value" a line' });
    ta.value = Object.entries(value || {}).map(([k, v]) => k + ': ' + v).join('\n');
    return { node: ta, get: () => {
      const o = {};
      for (const line of ta.value.split('\n')) { const i = line.indexOf(':'); if (i > 0) o[line.slice(0, i).trim()] = line.slice(i + 1).trim(); }
      return Object.keys(o).length ? o : undefined;
    } };
  }
  const inp = el('input', { 'data-path': path, title, placeholder: placeholders[s.$name] || '', size: s.$name === 'reply_string' ? 30 : 12 });
  if (value !== undefined && value !== null) inp.value = value;
  return { node: inp, get: () => inp.value.trim() === '' ? undefined : inp.value.trim() };
}

// editHost shows the behaviour form of h: one switch per part (on: the
// part is sent; off: it is normal), the fields of each part under it.
let editing = null; // name of the host whose form is open
let formDirty = false; // the form has been edited since it was built
let formShows = ''; // the behaviour it was built from, as JSON
function editHost(h) {
  if (!schemaDoc) { act(async () => { await loadSchema(); editHost(h); }); return; }
  h = hostByName(h.name) || h; // as the last refresh has it
  editing = h.name;
  formDirty = false;
  formShows = JSON.stringify(h.behavior);
  const root = schemaDoc.behavior.replace('#/$defs/', '');
  const props = schemaDoc.schema.$defs[root].properties;
  const b = h.behavior || {};
  const parts = [];
  const form = el('form', { id: 'behavior-form', class: 'behavior-form', dataset: { host: h.name } });
  for (const key of schemaDoc.keys) {
    const f = field(props[key], b[key], key);
    const on = el('input', { type: 'checkbox', 'data-part-on': key, checked: b[key] !== undefined && b[key] !== null });
    const body = el('div', { class: 'part-body' }, f.node);
    // Editing a part switches it on.
    body.addEventListener('input', () => { on.checked = true; });
    body.addEventListener('click', (e) => { if (e.target.dataset.action === 'add') on.checked = true; });
    const desc = firstLine(resolve(props[key]).description);
    form.append(el('details', { class: 'part', 'data-part': key, open: b[key] !== undefined && b[key] !== null },
      el('summary', {}, el('label', { onclick: (e) => e.stopPropagation() }, on, ' ', el('b', {}, key)), ' ', el('small', { class: 'hint' }, desc)), body));
    parts.push({ key, f, on, type: typeOf(resolve(props[key])) });
  }
  const errBox = el('div', { id: 'behavior-error', class: 'form-error', role: 'alert', hidden: true });
  const saved = el('span', { id: 'behavior-saved', class: 'hint' });
  form.append(el('div', { class: 'form-actions' },
    el('button', { type: 'submit', 'data-action': 'save-form' }, 'save'), ' ',
    el('button', { type: 'button', onclick: () => closeEditor() }, 'close'), ' ', saved), errBox);
  form.addEventListener('input', () => { formDirty = true; });
  form.addEventListener('click', (e) => { if (e.target.dataset.action === 'add' || e.target.dataset.action === 'remove') formDirty = true; });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const body = {};
    for (const p of parts) {
      if (!p.on.checked) continue;
      const v = p.f.get();
      if (v !== undefined) body[p.key] = v;
      else if (p.type === 'object') body[p.key] = {};
    }
    saved.textContent = '';
    act(async () => {
      await api('PUT', '/api/hosts/' + encodeURIComponent(h.name), body);
      await loadHosts();
      const nh = hostByName(h.name);
      if (nh) editHost(nh);
      document.getElementById('behavior-saved').textContent = 'saved: ' + (nh ? nh.summary : '');
    }, errBox);
  });
  const panel = document.getElementById('behavior');
  panel.hidden = false;
  document.getElementById('behavior-title').textContent = 'Behaviour of ' + canon(h.name);
  document.getElementById('behavior-body').replaceChildren(
    el('p', { class: 'hint' }, 'Each part as under a host of a scenario\'s hosts:. A part switched off is normal. ',
      el('a', { href: '#', 'data-action': 'edit-yaml', onclick: (e) => { e.preventDefault(); editYAML(h); } }, 'edit as YAML')),
    form);
}
function closeEditor() { editing = null; document.getElementById('behavior').hidden = true; }


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
  }, document.getElementById('fault-error'));
});

// ---- the relay's queue ----

function renderQueue() {
  const box = document.getElementById('queue');
  const note = document.getElementById('queue-note');
  note.textContent = state.queueErr || (state.queue.length === 0 ? 'empty' : state.queue.length + ' message' + (state.queue.length === 1 ? '' : 's'));
  note.className = state.queueErr ? 'form-error' : 'hint';
  box.querySelector('tbody').replaceChildren(...state.queue.map(q => el('tr', { dataset: { id: q.id } },
    el('td', { class: 'mono' }, q.id, q.queue ? el('small', {}, q.queue) : null),
    el('td', { class: 'mono' }, q.from || '<>', q.size ? el('small', {}, num(q.size) + ' bytes') : null),
    el('td', {}, q.to.map(r => el('div', { class: 'rcpt' }, el('span', { class: 'mono' }, r.to), r.reason ? el('div', { class: 'reason' }, r.reason) : null))),
    el('td', { class: 'mono' }, q.attempts ? String(q.attempts) : '',
      q.next_try ? el('small', { title: q.next_try }, 'next ' + new Date(q.next_try).toLocaleTimeString()) : null,
      q.arrival ? el('small', { title: q.arrival }, 'since ' + new Date(q.arrival).toLocaleTimeString()) : null))));
}
document.getElementById('queue-refresh').addEventListener('click', () => act(loadQueue));

// ---- messages, sessions, details ----

function renderMessages() {
  // The sandbox keeps the last messages only (mxsim sandbox --max-messages).
  const note = document.getElementById('messages-dropped');
  note.hidden = !state.messagesDropped;
  const max = state.info && state.info.limits.max_messages;
  note.textContent = num(state.messagesDropped) + ' older message' + (state.messagesDropped === 1 ? '' : 's') + ' dropped' +
    (max ? ' (the sandbox keeps the last ' + num(max) + ')' : '');
  const count = document.getElementById('messages-count');
  const q = document.getElementById('message-search').value.trim();
  count.textContent = (q ? state.messages.length + ' found' : '') + (state.messagesDeleted ? (q ? ' · ' : '') + state.messagesDeleted + ' deleted' : '');
  const tbody = document.querySelector('#messages tbody');
  // Two lines a message, each cut with an ellipsis (the whole text in
  // its title): the subject, then sender, recipients and host.
  tbody.replaceChildren(...state.messages.slice().reverse().map(m => el('tr', { class: 'clickable', dataset: { seq: m.seq }, onclick: () => showMessage(m.seq) },
    el('td', { class: 'seq' }, m.seq),
    el('td', { class: 'msg' },
      el('div', { class: 'subject cut', title: m.subject || '' }, m.subject || ''),
      el('div', { class: 'meta mono cut', title: (m.from || '<>') + ' → ' + (m.to || []).join(', ') + ' at ' + canon(m.host) },
        (m.from || '<>') + ' → ' + (m.to || []).join(', ') + ' · ' + canon(m.host))),
    el('td', {}, el('button', { class: 'small', title: 'delete this message', dataset: { action: 'delete-message', seq: m.seq },
      onclick: (e) => { e.stopPropagation(); deleteMessage(m.seq); } }, '×')))));
}

function deleteMessage(seq) {
  act(async () => {
    await api('DELETE', '/api/messages/' + seq);
    if (document.getElementById('detail-title').dataset.seq === String(seq)) detail('Details', el('p', { class: 'hint' }, 'Message ' + seq + ' deleted.'));
    await loadMessages();
  });
}

let searchTimer = null;
document.getElementById('message-search').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => act(loadMessages), 200);
});
document.getElementById('delete-all').addEventListener('click', () => act(async () => { await api('DELETE', '/api/messages'); await loadMessages(); }));

// ---- send a test message ----

// renderSendVia offers the relay (when there is one) and every simulated
// host as where the test message goes.
function renderSendVia() {
  const sel = document.getElementById('send-form').via;
  const cur = sel.value;
  const opts = [];
  if (state.info && state.info.relay) opts.push(el('option', { value: '' }, 'the relay (' + state.info.relay.addr + ')'));
  for (const h of state.hosts) opts.push(el('option', { value: h.name }, 'host ' + canon(h.name)));
  sel.replaceChildren(...opts);
  if ([...sel.options].some(o => o.value === cur)) sel.value = cur;
}

document.getElementById('send-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const result = document.getElementById('send-result');
  result.textContent = '';
  act(async () => {
    const body = { from: f.from.value.trim(), to: f.to.value.split(',').map(x => x.trim()).filter(Boolean), subject: f.subject.value, text: f.text.value };
    if (f.html.value.trim()) body.html = f.html.value;
    if (f.attname.value.trim()) body.attachment = { name: f.attname.value.trim(), content: f.attcontent.value };
    if (f.via.value) {
      body.host = f.via.value;
      if (f.user.value) { body.user = f.user.value; body.password = f.password.value; }
    }
    const r = await api('POST', '/api/send', body);
    result.textContent = 'sent to ' + r.sent;
  }, document.getElementById('send-error'));
});

function renderSessions() {
  const ul = document.getElementById('sessions');
  ul.replaceChildren(...state.sessions.slice().reverse().map(s => el('li', { dataset: { session: s.path }, onclick: () => showTranscript(s.id) },
    s.id + (s.messages ? '  ✉ ' + s.messages : '') + (s.ended ? '' : '  (open)'))));
}

function detail(title, ...children) {
  const t = document.getElementById('detail-title');
  t.textContent = title;
  delete t.dataset.seq;
  document.getElementById('detail').replaceChildren(...children);
}

function showMessage(seq) {
  act(async () => {
    const m = await api('GET', '/api/messages/' + seq);
    detail('Message ' + seq + ' at ' + canon(m.host),
      el('div', { class: 'hdr' }, el('b', {}, 'envelope: '), (m.from || '<>') + ' → ' + m.to.join(', ')),
      ...(m.auth_results ? [el('div', { class: 'hdr auth-results' }, el('b', {}, 'checks (Authentication-Results): '), m.auth_results)] : []),
      ...m.headers.map(h => el('div', { class: 'hdr' }, el('b', {}, h.name + ': '), h.value)),
      ...(m.parts.length > 1 || m.parts.some(p => p.filename) ? [el('div', { class: 'hdr parts' }, el('b', {}, 'parts: '),
        el('ul', { class: 'attachments' }, m.parts.map(p => el('li', {},
          // A download of bytes (application/octet-stream, attachment):
          // never opened as a page of this origin.
          el('a', { href: p.url, download: p.filename || ('message-' + seq + '-part') }, p.filename || p.type),
          ' ' + p.type + ', ' + num(p.size) + ' bytes'))))] : []),
      ...(m.mime_error ? [el('div', { class: 'hdr mime-error' }, el('b', {}, 'MIME: '), m.mime_error)] : []),
      ...(m.truncated ? [el('div', { class: 'hdr truncated' }, el('b', {}, 'shown: '), 'the first MiB of ' + num(m.size) + ' bytes; the whole message is the ',
        el('a', { href: m.eml, target: '_blank' }, 'raw .eml'))] : []),
      // The HTML part in a frame with every sandbox restriction (no
      // scripts, no same origin, no forms or popups); the server's CSP
      // lets nothing load but inline styles and data: images.
      ...(m.html ? [el('details', { class: 'html', open: true }, el('summary', {}, 'HTML'),
        el('iframe', { class: 'html-preview', sandbox: '', src: m.html, referrerpolicy: 'no-referrer', title: 'HTML part of message ' + seq }))] : []),
      el('pre', { class: 'body text' }, m.text),
      ...(m.text !== m.body ? [el('details', {}, el('summary', {}, 'body as received'), el('pre', { class: 'body raw' }, m.body))] : []),
      el('p', {}, el('a', { href: m.eml, target: '_blank' }, 'raw .eml'), ' · ',
        el('a', { href: '#', onclick: (e) => { e.preventDefault(); showTranscript(m.session); } }, 'transcript of ' + m.session), ' · ',
        el('button', { class: 'danger small', dataset: { action: 'delete-message', seq }, onclick: () => deleteMessage(seq) }, 'delete')));
    document.getElementById('detail-title').dataset.seq = String(seq);
  });
}

function showTranscript(id) {
  act(async () => {
    // Paths write a session's '#' as '~'.
    const t = await api('GET', '/api/sessions/' + encodeURIComponent(id.replace(/#/g, '~')) + '/transcript');
    detail('Transcript ' + id, el('pre', { class: 'transcript' }, t.lines.join('\n')));
  });
}

function showEvent(e) {
  if (e.session) { showTranscript(e.session); return; }
  detail('Event ' + e.seq, el('pre', {}, JSON.stringify(e, null, 2)));
}

// ---- timeline: a sequence diagram drawn from the journal ----

const LANE_GAP = 150, LEFT = 60, TOP = 34, ROW = 20, CHAR_W = 6.7, MAX_NOTE = 2000;
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
    // The relay's decisions are shown whole: a defer or bounce reason is
    // what the reader is looking for.
    case 'relay.defer': return { type: 'note', at: 'senders', label: 'relay defer: ' + e.text + (e.err ? ': ' + e.err : ''), cls: 'warn', whole: true };
    case 'relay.bounce': return { type: 'note', at: 'senders', label: 'relay bounce: ' + e.text + (e.err ? ': ' + e.err : ''), cls: 'err', whole: true };
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
  // Each lane is as wide as its name needs (LANE_GAP at least): with 20
  // hosts the diagram is wider than its box, which scrolls sideways.
  const laneName = (n) => n === 'senders' ? 'relay / clients' : n === 'dns' ? 'fake DNS' : n;
  const laneW = lanes.map(n => Math.max(LANE_GAP, laneName(n).length * CHAR_W + 24));
  const centers = [];
  lanes.forEach((n, i) => centers.push(i === 0 ? LEFT + laneW[0] / 2 : centers[i - 1] + (laneW[i - 1] + laneW[i]) / 2));
  const x = (n) => centers[lanes.indexOf(n)];
  const noteLen = (r) => r.whole ? Math.min(r.label.length, MAX_NOTE) : Math.min(r.label.length, 46);
  const notesEnd = Math.max(0, ...shown.filter(r => r.type === 'note').map(r => x(r.at) + 12 + noteLen(r) * CHAR_W));
  const width = Math.ceil(Math.max(notesEnd, centers[centers.length - 1] + laneW[laneW.length - 1] / 2 + 320)); // room for notes on the last lane
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
      g.append(svg('text', { class: 'label', x: lx, y: y - 7 }, short(r.label, Math.floor(Math.abs(x2 - x1) / CHAR_W) + 4)));
    } else if (r.type === 'note') {
      const label = short(r.label, r.whole ? MAX_NOTE : 46);
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
    const w = laneW[lanes.indexOf(n)] - 10;
    heads.append(svg('g', { class: cls, 'data-lane': n }, svg('title', {}, n + (h ? ' ' + h.addr + ' (' + h.state + ')' : '')),
      svg('rect', { x: x(n) - w / 2, y: 6, width: w, height: 22, rx: 4 }),
      svg('text', { x: x(n), y: 21, 'text-anchor': 'middle' }, laneName(n))));
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
    if (e.kind.startsWith('relay.') || e.kind === 'client.submit') refresh(loadQueue);
    scheduleTimeline();
  });
}

act(async () => {
  await loadInfo();
  await Promise.all([loadHosts(), loadZones(), loadFaults(), loadMessages(), loadSessions(), loadSchema(), loadQueue()]);
  connect();
});
