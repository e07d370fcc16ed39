// The Organizational Secrets page. Plain ES module, no dependencies, no
// network access beyond this page's own server. Values are never fetched
// until the user asks (the eye or copy button), are held only while shown,
// and are never written to the console, storage or the address bar.

const $ = (id) => document.getElementById(id);
const PAGE = 100;

const state = {
  session: null,
  secrets: [],
  filtered: [],
  sort: { key: 'name', dir: 1 },
  page: 0,
  revealed: new Map(), // key -> { value, timer }
  members: null,
  org: null,
};

// ---- the server ----

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.headers['X-CSRF-Token'] = state.session ? state.session.csrf : '';
    opts.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, opts);
  } catch (e) {
    throw new ApiError('the page\u2019s server is not reachable (it stops after its idle timeout or on Ctrl-C): run `orgsecrets ui` again', 0);
  }
  const type = r.headers.get('Content-Type') || '';
  const data = type.startsWith('application/json') ? await r.json() : { error: (await r.text()).trim() };
  if (!r.ok) throw new ApiError(data.error || r.statusText, r.status);
  return data;
}

function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') u.set(k, v);
  return u.toString();
}

// ---- small DOM helpers ----

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const ICONS = {
  eye: 'M1 12s4-7 11-7 11 7 11 7-4 7-11 7S1 12 1 12z M12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6z',
  eyeOff: 'M3 3l18 18 M10.6 6.1A10 10 0 0 1 12 6c7 0 11 6 11 6a18 18 0 0 1-3.2 3.9 M6.6 6.6C3.4 8.5 1 12 1 12s4 7 11 7a10 10 0 0 0 5.4-1.6 M9.9 9.9a3 3 0 0 0 4.2 4.2',
  copy: 'M9 9h11v11H9z M5 15H4V4h11v1',
  pencil: 'M17 3l4 4L8 20H4v-4z',
  trash: 'M3 6h18 M8 6V4h8v2 M6 6l1 14h10l1-14',
  clock: 'M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z M12 7v5l3 3',
  info: 'M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z M12 11v6 M12 7.5v.5',
};

function icon(name) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('d', ICONS[name]);
  svg.append(p);
  return svg;
}

function iconButton(name, label, onclick, extra) {
  return el('button', Object.assign({ type: 'button', class: 'icon', 'aria-label': label, title: label, onclick }, extra || {}), icon(name));
}

function status(msg, isError) {
  const s = $('status');
  s.textContent = msg || '';
  s.classList.toggle('err', !!isError);
}

// what the acting member's role allows, as pkg/org decides it (the server checks again)
const can = (what) => !!(state.session && state.session.can && state.session.can[what]);
const canWrite = () => can('write');
const canDelete = () => can('delete');
const isAdmin = () => can('manage');
const keyOf = (s) => `${s.environment}/${s.application || ''}/${s.name}`;
const label = (s) => `${s.environment}/${s.application ? s.application + '/' : ''}${s.name}`;

function shortTime(ts) { return ts ? ts.replace('T', ' ').replace(/:\d\dZ$/, 'Z') : '\u2013'; }

// ---- tabs ----

const TABS = ['secrets', 'add', 'members', 'org', 'health', 'changes'];

function selectTab(name, focus) {
  for (const t of TABS) {
    const tab = $(`tab-${t}`), panel = $(`panel-${t}`);
    const on = t === name;
    tab.setAttribute('aria-selected', on ? 'true' : 'false');
    tab.tabIndex = on ? 0 : -1;
    panel.hidden = !on;
  }
  if (focus) $(`tab-${name}`).focus();
  const load = { members: loadMembers, org: loadOrg, health: loadHealth, changes: loadChanges, secrets: loadSecrets };
  if (load[name]) load[name]().catch((e) => status(e.message, true));
}

function setupTabs() {
  for (const t of TABS) {
    const tab = $(`tab-${t}`);
    tab.addEventListener('click', () => selectTab(t, false));
    tab.addEventListener('keydown', (ev) => {
      const i = TABS.indexOf(t);
      let j = null;
      if (ev.key === 'ArrowRight') j = (i + 1) % TABS.length;
      else if (ev.key === 'ArrowLeft') j = (i + TABS.length - 1) % TABS.length;
      else if (ev.key === 'Home') j = 0;
      else if (ev.key === 'End') j = TABS.length - 1;
      if (j !== null) { ev.preventDefault(); selectTab(TABS[j], true); }
    });
  }
}

// ---- session ----

async function loadSession() {
  state.session = await api('GET', '/api/session');
  const s = state.session;
  document.title = `${s.organization} \u2013 Organizational Secrets`;
  $('org-name').textContent = `${s.organization} \u2013 Organizational Secrets`;
  const who = $('who');
  who.replaceChildren();
  if (s.role) {
    who.append(`Signed in as ${s.member} `, el('span', { class: 'role', text: s.role }));
  } else {
    who.append(s.memberNote || 'no acting member');
  }
  if (!s.identity.loaded) who.append(el('span', { class: 'help bad', text: ` \u2013 identity: ${s.identity.error}` }));
  else if (s.role && s.role !== 'viewer' && !s.identity.matchesMember) who.append(el('span', { class: 'help warn', text: ' \u2013 your identity file does not hold this member\u2019s key' }));
  fillSelect($('f-env'), s.environments, [['', 'All']]);
  fillSelect($('a-env'), s.environments, []);
  fillSelect($('f-app'), s.applications, [['', 'All'], ['-', 'Organization level']]);
  fillSelect($('a-app'), s.applications, [['', 'Organization level (shared)']]);
  const denied = !canWrite();
  $('add-denied').hidden = !denied;
  $('add-denied').textContent = denied ? `Adding secrets needs an admin or a member; ${s.member || 'you'} ${s.role ? 'is a ' + s.role : 'is not a member'}.` : '';
  for (const x of $('add-form').querySelectorAll('input, select, textarea, button')) x.disabled = denied;
  $('member-form').hidden = !isAdmin();
  $('env-form').hidden = !isAdmin();
  $('app-form').hidden = !isAdmin();
}

function fillSelect(sel, values, fixed) {
  const keep = sel.value;
  sel.replaceChildren();
  for (const [v, t] of fixed) sel.append(el('option', { value: v, text: t }));
  for (const v of values) sel.append(el('option', { value: v, text: v }));
  if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
}

// ---- secrets list ----

async function loadSecrets() {
  const t0 = performance.now();
  const data = await api('GET', '/api/secrets');
  state.secrets = data.secrets;
  for (const k of [...state.revealed.keys()]) if (!state.secrets.some((s) => keyOf(s) === k)) hideValue(k);
  applyFilters();
  document.body.dataset.listMs = String(Math.round(performance.now() - t0));
}

function applyFilters() {
  const q = $('f-search').value.trim().toLowerCase();
  const env = $('f-env').value, app = $('f-app').value, st = $('f-status').value;
  const { key, dir } = state.sort;
  state.filtered = state.secrets.filter((s) =>
    (!env || s.environment === env) &&
    (!app || (app === '-' ? !s.application : s.application === app)) &&
    (!st || s.status === st) &&
    (!q || s.name.toLowerCase().includes(q) || (s.description || '').toLowerCase().includes(q) ||
      (s.createdBy || '').toLowerCase().includes(q) || (s.updatedBy || '').toLowerCase().includes(q)));
  state.filtered.sort((a, b) => {
    const x = a[key] || '', y = b[key] || '';
    return (x < y ? -1 : x > y ? 1 : 0) * dir || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  });
  const pages = Math.max(1, Math.ceil(state.filtered.length / PAGE));
  if (state.page >= pages) state.page = pages - 1;
  renderSecrets();
}

function renderSecrets() {
  const rows = state.filtered.slice(state.page * PAGE, (state.page + 1) * PAGE);
  const body = $('secrets-body');
  const frag = document.createDocumentFragment();
  for (const s of rows) frag.append(secretRow(s));
  body.replaceChildren(frag);
  const n = state.filtered.length, total = state.secrets.length;
  const pages = Math.max(1, Math.ceil(n / PAGE));
  $('list-summary').textContent = n === total ? `${total} secret${total === 1 ? '' : 's'}` : `${n} of ${total} secrets match`;
  $('page-info').textContent = `Page ${state.page + 1} of ${pages}`;
  $('page-prev').disabled = state.page === 0;
  $('page-next').disabled = state.page >= pages - 1;
  for (const b of document.querySelectorAll('button.sort')) {
    if (b.dataset.key === state.sort.key) b.setAttribute('aria-sort', state.sort.dir > 0 ? 'ascending' : 'descending');
    else b.removeAttribute('aria-sort');
  }
  if (!n && !total) body.append(el('tr', {}, el('td', { colspan: '9', text: 'No secrets yet.' })));
}

function secretRow(s) {
  const k = keyOf(s);
  const days = s.rotatedDays;
  const overdue = s.rotationOverdue; // the server applies lint's rotation rule
  const nameCell = el('td', {}, el('span', { class: 'name mono', text: s.name }),
    s.description ? el('span', { class: 'desc', text: s.description }) : null);
  const rotated = el('td', { class: 'c-rot' + (overdue ? ' overdue' : ''), title: s.rotatedAt || '' },
    days === null || days === undefined ? '\u2013' : `${days} d${overdue ? ' (overdue)' : ''}`);
  const valueCell = el('td', { class: 'value', 'data-key': k });
  fillValueCell(valueCell, s);
  const actions = el('div', { class: 'actions' });
  if (s.canReveal) {
    actions.append(iconButton('copy', `Copy the value of ${s.name}`, () => copyValue(s)));
  }
  if (canWrite()) actions.append(iconButton('pencil', `Edit ${s.name}`, () => openEdit(s)));
  if (canDelete()) actions.append(iconButton('trash', `Delete ${s.name}`, () => openDelete(s)));
  actions.append(iconButton('clock', `History of ${s.name}`, () => openHistory(s)));
  return el('tr', { 'data-name': s.name, 'data-env': s.environment },
    nameCell,
    el('td', { text: s.environment }),
    el('td', { class: 'c-app', title: s.application ? '' : 'organization level (shared)', text: s.application || '\u2013' }),
    el('td', { class: s.status === 'disabled' ? 'state-disabled' : '', text: s.status }),
    el('td', { class: 'c-upd', title: s.updatedBy ? `by ${s.updatedBy}` : '', text: shortTime(s.updatedAt) }),
    el('td', { class: 'c-by', text: s.createdBy || '\u2013' }),
    rotated, valueCell, el('td', {}, actions));
}

function fillValueCell(cell, s) {
  const k = keyOf(s);
  const shown = state.revealed.get(k);
  cell.replaceChildren();
  if (shown) {
    cell.append(el('span', { class: 'shown mono', text: shown.value, 'aria-label': `value of ${s.name}` }), ' ',
      iconButton('eyeOff', `Hide the value of ${s.name}`, () => hideValue(k, true)));
  } else if (s.canReveal) {
    cell.append(el('span', { class: 'hidden-dots', 'aria-hidden': 'true', text: '\u2022\u2022\u2022\u2022\u2022\u2022' }), ' ',
      iconButton('eye', `Reveal the value of ${s.name}`, () => reveal(s)));
  } else {
    const why = (state.session.revealNotes || {})[s.revealNote] || s.revealNote;
    cell.append(el('span', { class: 'hidden-dots', 'aria-hidden': 'true', text: '\u2022\u2022\u2022\u2022\u2022\u2022' }), ' ',
      iconButton('info', `Cannot reveal ${s.name}: ${why}`, () => status(`${label(s)}: ${why}`, true), { class: 'icon info no-reveal' }));
  }
}

function refreshValueCell(k) {
  const s = state.secrets.find((x) => keyOf(x) === k);
  const cell = document.querySelector(`td.value[data-key="${CSS.escape(k)}"]`);
  if (s && cell) fillValueCell(cell, s);
}

async function fetchValue(s) {
  const r = await api('POST', '/api/reveal', { environment: s.environment, application: s.application, name: s.name });
  return r.encoding === 'base64' ? `(binary, base64) ${r.value}` : r.value;
}

async function reveal(s) {
  const k = keyOf(s);
  try {
    const value = await fetchValue(s);
    hideValue(k);
    const ms = state.session.hideAfterMs;
    state.revealed.set(k, { value, timer: setTimeout(() => hideValue(k, true), ms) });
    refreshValueCell(k);
    status(`${label(s)} shown for ${Math.round(ms / 1000)} s`);
    const cell = document.querySelector(`td.value[data-key="${CSS.escape(k)}"] button`);
    if (cell) cell.focus({ preventScroll: true });
  } catch (e) {
    status(`${label(s)}: ${e.message}`, true);
  }
}

function hideValue(k, render) {
  const r = state.revealed.get(k);
  if (!r) return;
  clearTimeout(r.timer);
  r.value = '';
  state.revealed.delete(k);
  if (render) refreshValueCell(k);
}

async function copyValue(s) {
  try {
    const value = await fetchValue(s);
    await navigator.clipboard.writeText(value);
    status(`Copied the value of ${label(s)} to the clipboard`);
  } catch (e) {
    status(`${label(s)}: ${e.message}`, true);
  }
}

// ---- add ----

let nameTimer = null;
let nameSeq = 0;

async function checkName() {
  const name = $('a-name').value;
  const help = $('a-name-help');
  const seq = ++nameSeq;
  if (!name) {
    help.className = 'help';
    help.textContent = 'Upper-case letters, digits and _, starting with a letter, e.g. BILLING_DB_PASSWORD.';
    $('a-name').removeAttribute('aria-invalid');
    return;
  }
  try {
    const r = await api('GET', '/api/name-check?' + qs({ name, environment: $('a-env').value, application: $('a-app').value }));
    if (seq !== nameSeq) return;
    const msgs = [];
    if (r.error) msgs.push(r.error);
    for (const w of r.warnings || []) msgs.push(w);
    help.className = r.error ? 'help bad' : msgs.length ? 'help warn' : 'help';
    help.textContent = msgs.length ? msgs.join(' ') : 'Looks good.';
    if (r.error) $('a-name').setAttribute('aria-invalid', 'true');
    else $('a-name').removeAttribute('aria-invalid');
  } catch (e) {
    if (seq === nameSeq) { help.className = 'help bad'; help.textContent = e.message; }
  }
}

async function generateInto(input, lengthInput) {
  const length = lengthInput ? Number(lengthInput.value) : 32;
  try {
    const r = await api('POST', '/api/generate', { length });
    input.value = r.value;
    input.type = 'text';
    if (input === $('a-value')) $('a-show').setAttribute('aria-pressed', 'true');
    input.focus();
  } catch (e) {
    status(e.message, true);
  }
}

async function submitAdd(ev) {
  ev.preventDefault();
  const err = $('a-error');
  err.textContent = '';
  const body = {
    name: $('a-name').value,
    environment: $('a-env').value,
    application: $('a-app').value || null,
    value: $('a-value').value,
    description: $('a-desc').value,
    visibleToViewers: $('a-visible').checked,
  };
  $('a-submit').disabled = true;
  try {
    const r = await api('POST', '/api/secrets/create', body);
    $('a-value').value = '';
    body.value = '';
    $('a-name').value = '';
    $('a-desc').value = '';
    $('a-visible').checked = false;
    $('a-value').type = 'password';
    $('a-show').setAttribute('aria-pressed', 'false');
    checkName();
    afterChange(r, `Created ${r.secret ? label(r.secret) : ''}`);
  } catch (e) {
    err.textContent = e.message;
  } finally {
    body.value = '';
    $('a-submit').disabled = !canWrite();
  }
}

async function afterChange(r, what) {
  const notes = (r.notes || []).join(' ');
  // the list first, so that the message describes what is on screen
  try {
    await Promise.all([loadSecrets(), refreshChangeCount()]);
  } catch (e) {
    status(e.message, true);
    return;
  }
  status(`${what}${r.changed && r.changed.length ? ' \u2013 changed ' + r.changed.join(', ') : ''}${notes ? ' \u2013 ' + notes : ''}`);
}

// ---- edit ----

let editing = null;

function openEdit(s) {
  editing = s;
  $('edit-title').textContent = `Edit ${label(s)}`;
  $('ed-value').value = '';
  $('ed-value').type = 'password';
  $('ed-desc').value = s.description || '';
  $('ed-state').value = s.status === 'disabled' ? 'disabled' : 'active';
  $('ed-visible').checked = !!s.visibleToViewers;
  $('ed-error').textContent = '';
  $('edit-dialog').showModal();
  $('ed-value').focus();
}

async function submitEdit(ev) {
  ev.preventDefault();
  const s = editing;
  const body = { environment: s.environment, application: s.application, name: s.name };
  if ($('ed-value').value !== '') body.value = $('ed-value').value;
  if ($('ed-desc').value !== (s.description || '')) body.description = $('ed-desc').value;
  if ($('ed-state').value !== s.status) body.state = $('ed-state').value;
  if ($('ed-visible').checked !== !!s.visibleToViewers) body.visibleToViewers = $('ed-visible').checked;
  try {
    const r = await api('POST', '/api/secrets/update', body);
    $('ed-value').value = '';
    $('edit-dialog').close();
    afterChange(r, r.unchanged ? `${label(s)} unchanged` : `Updated ${label(s)}`);
  } catch (e) {
    $('ed-error').textContent = e.message;
  } finally {
    body.value = '';
  }
}

// ---- delete ----

let deleting = null;

function openDelete(s) {
  deleting = s;
  $('del-title').textContent = `Delete ${label(s)}`;
  $('del-text').textContent = `This removes ${s.name} from ${s.environment}${s.application ? ' (application ' + s.application + ')' : ''}; the controller removes it from every target on its next reconcile.`;
  $('del-confirm').value = '';
  $('del-go').disabled = true;
  $('del-error').textContent = '';
  $('delete-dialog').showModal();
  $('del-confirm').focus();
}

async function submitDelete(ev) {
  ev.preventDefault();
  const s = deleting;
  if ($('del-confirm').value !== s.name) return;
  try {
    const r = await api('POST', '/api/secrets/delete', { environment: s.environment, application: s.application, name: s.name, confirm: $('del-confirm').value });
    hideValue(keyOf(s));
    $('delete-dialog').close();
    afterChange(r, `Deleted ${label(s)}`);
  } catch (e) {
    $('del-error').textContent = e.message;
  }
}

// ---- history ----

async function openHistory(s) {
  $('hist-title').textContent = `History of ${label(s)}`;
  const list = $('hist-list');
  list.replaceChildren(el('li', { text: 'Loading\u2026' }));
  $('history-dialog').showModal();
  $('hist-close').focus();
  try {
    const r = await api('GET', '/api/history?' + qs({ environment: s.environment, application: s.application, name: s.name }));
    list.replaceChildren();
    if (!r.git) list.append(el('li', { text: r.note || 'Not a Git checkout: no history.' }));
    else if (!r.entries.length) list.append(el('li', { text: 'No commit has touched this secret yet (its changes are not committed).' }));
    for (const h of r.entries) {
      list.append(el('li', {},
        el('strong', { text: (h.changes || []).join(', ') || 'changed' }),
        el('span', { text: `by ${h.by || h.author}` }),
        el('span', { class: 'where', text: `${shortTime(h.date)} \u00b7 ${h.commit.slice(0, 10)} \u00b7 ${h.subject}` })));
    }
  } catch (e) {
    list.replaceChildren(el('li', { class: 'error', text: e.message }));
  }
}

// ---- members ----

async function loadMembers() {
  const r = await api('GET', '/api/members');
  state.members = r;
  const body = $('members-body');
  body.replaceChildren();
  for (const m of r.members) {
    const roleCell = el('td');
    if (isAdmin() && m.name !== state.session.member) {
      const sel = el('select', { 'aria-label': `Role of ${m.name}` });
      for (const x of ['admin', 'member', 'viewer']) sel.append(el('option', { value: x, text: x }));
      sel.value = m.role;
      sel.addEventListener('change', () => changeRole(m, sel));
      roleCell.append(sel);
    } else {
      roleCell.append(el('span', { class: 'role', text: m.role }));
    }
    const actions = el('td');
    if (isAdmin() && m.name !== state.session.member) actions.append(el('button', { type: 'button', text: 'Remove', 'aria-label': `Remove ${m.name}`, onclick: () => removeMember(m) }));
    body.append(el('tr', {}, el('td', { text: m.name }), roleCell,
      el('td', { class: 'mono', title: m.recipient || '', text: m.fingerprint || 'no key' }), actions));
  }
  showRekey(r.staleSecrets);
}

function showRekey(stale) {
  const b = $('rekey-banner');
  b.hidden = !stale;
  $('rekey-text').textContent = stale ? `${stale} secret${stale === 1 ? ' is' : 's are'} sealed to an out-of-date set of recipients: re-seal them (orgsecrets rekey) so that the new members can read them and the removed ones cannot read new versions.` : '';
  $('rekey-run').hidden = !canWrite();
}

function confirmDialog(title, text, okLabel) {
  return new Promise((resolve) => {
    const d = $('confirm-dialog');
    $('confirm-title').textContent = title;
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = okLabel || 'OK';
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.returnValue = '';
    d.showModal();
    $('confirm-cancel').focus();
  });
}

async function changeRole(m, sel) {
  try {
    const r = await api('POST', '/api/members/role', { name: m.name, role: sel.value });
    await afterMemberChange(r, `${m.name} is now a ${sel.value}`);
  } catch (e) {
    sel.value = m.role;
    status(e.message, true);
  }
}

async function removeMember(m) {
  if (!await confirmDialog(`Remove ${m.name}?`, `${m.name} (${m.role}) loses access to new values once the secrets are re-sealed; values they could read should be rotated.`, 'Remove')) return;
  try {
    const r = await api('POST', '/api/members/remove', { name: m.name });
    await afterMemberChange(r, `Removed ${m.name}`);
  } catch (e) {
    status(e.message, true);
  }
}

async function afterMemberChange(r, what) {
  status(`${what}${r.changed && r.changed.length ? ' \u2013 changed ' + r.changed.join(', ') : ''}`);
  await Promise.all([loadMembers(), refreshChangeCount()]);
}

async function submitMember(ev) {
  ev.preventDefault();
  $('m-error').textContent = '';
  try {
    const r = await api('POST', '/api/members/add', { name: $('m-name').value, role: $('m-role').value, recipient: $('m-recipient').value || null });
    const name = $('m-name').value;
    $('m-name').value = '';
    $('m-recipient').value = '';
    await afterMemberChange(r, `Added ${name}`);
  } catch (e) {
    $('m-error').textContent = e.message;
  }
}

async function runRekey() {
  try {
    const plan = await api('POST', '/api/rekey', { dryRun: true });
    const lines = [];
    for (const g of plan.grant || []) lines.push(`grant: ${g}`);
    for (const x of plan.rotate || []) lines.push(`rotate: ${x}`);
    const text = `${plan.stale} secret(s) will be re-sealed.` + (lines.length ? ' ' + lines.join('; ') : '');
    if (!await confirmDialog('Re-seal (rekey)?', text, 'Re-seal')) return;
    const r = await api('POST', '/api/rekey', { confirm: true });
    const notes = [];
    if (r.rotate && r.rotate.length) notes.push(`rotate these values, their former readers may have kept them: ${r.rotate.join('; ')}`);
    if (r.failed && r.failed.length) notes.push(`could not open: ${r.failed.join(', ')}`);
    status(`Re-sealed ${r.resealed} secret(s)${notes.length ? ' \u2013 ' + notes.join(' \u2013 ') : ''}`, !!(r.failed && r.failed.length));
    await Promise.all([loadMembers(), refreshChangeCount(), loadSecrets()]);
  } catch (e) {
    status(e.message, true);
  }
}

// ---- environments and applications ----

function words(s) { return s.split(/[\s,]+/).filter(Boolean); }

async function loadOrg() {
  const r = await api('GET', '/api/org');
  state.org = r;
  const envs = $('envs');
  envs.replaceChildren();
  for (const e of r.environments) {
    envs.append(el('li', {}, el('strong', { text: e.name }), ` \u00b7 ${e.secrets} secret${e.secrets === 1 ? '' : 's'}`,
      el('div', { class: 'meta', text: `namespaces: ${e.namespaces.join(', ') || '\u2013'}` }),
      el('div', { class: 'meta', text: `controllers: ${e.controllers.map((c) => c.slice(0, 16) + '\u2026').join(', ')}` })));
  }
  const apps = $('apps');
  apps.replaceChildren();
  if (!r.applications.length) apps.append(el('li', { text: 'No application yet: every secret is organization level.' }));
  for (const a of r.applications) {
    apps.append(el('li', {}, el('strong', { text: a.name }), ` \u00b7 ${a.secrets} secret${a.secrets === 1 ? '' : 's'}`,
      el('div', { class: 'meta', text: `namespaces: ${a.namespaces.join(', ')}` })));
  }
}

async function submitEnv(ev) {
  ev.preventDefault();
  $('e-error').textContent = '';
  try {
    const r = await api('POST', '/api/envs/add', { name: $('e-name').value, controllers: words($('e-controllers').value), namespaces: words($('e-namespaces').value) });
    status(`Added environment ${$('e-name').value} \u2013 changed ${(r.changed || []).join(', ')}`);
    $('e-name').value = ''; $('e-controllers').value = ''; $('e-namespaces').value = '';
    await Promise.all([loadOrg(), loadSession(), refreshChangeCount()]);
  } catch (e) {
    $('e-error').textContent = e.message;
  }
}

async function submitApp(ev) {
  ev.preventDefault();
  $('p-error').textContent = '';
  try {
    const r = await api('POST', '/api/apps/add', { name: $('p-name').value, namespaces: words($('p-namespaces').value) });
    status(`Added application ${$('p-name').value} \u2013 changed ${(r.changed || []).join(', ')}`);
    $('p-name').value = ''; $('p-namespaces').value = '';
    await Promise.all([loadOrg(), loadSession(), refreshChangeCount()]);
  } catch (e) {
    $('p-error').textContent = e.message;
  }
}

// ---- health ----

async function loadHealth() {
  $('health-summary').textContent = 'Checking\u2026';
  const r = await api('GET', '/api/lint');
  $('health-summary').textContent = `${r.errors} error${r.errors === 1 ? '' : 's'}, ${r.warnings} warning${r.warnings === 1 ? '' : 's'}` + (r.errors + r.warnings === 0 ? ': all good.' : '');
  const list = $('findings');
  list.replaceChildren();
  for (const f of r.findings) {
    const li = el('li', {}, el('span', { class: `sev-${f.severity}`, text: f.severity }),
      el('span', { text: f.message }), el('span', { class: 'where', text: `${f.file || ''}${f.line ? ':' + f.line : ''}` }));
    if (f.fix && f.fix.action === 'rekey' && canWrite()) li.append(el('button', { type: 'button', text: 'Fix: re-seal (rekey)', onclick: runRekey }));
    if (f.fix && f.fix.action === 'rotate' && canWrite()) {
      const s = state.secrets.find((x) => label(x) === f.fix.object);
      if (s) li.append(el('button', { type: 'button', text: 'Fix: rotate the value', onclick: () => { openEdit(s); generateInto($('ed-value')); } }));
    }
    list.append(li);
  }
}

// ---- changes and commit ----

async function refreshChangeCount() {
  try {
    const r = await api('GET', '/api/changes');
    const n = r.files.length;
    $('changes-count').hidden = n === 0;
    $('changes-count').textContent = String(n);
    return r;
  } catch (e) {
    return null;
  }
}

async function loadChanges() {
  const r = await refreshChangeCount();
  if (!r) return;
  const list = $('changes');
  list.replaceChildren();
  $('changes-note').textContent = !r.git ? (r.note || 'Not a Git checkout.') : r.files.length ? `${r.files.length} file(s) changed in this checkout:` : 'Nothing to commit.';
  for (const f of r.files) list.append(el('li', {}, el('span', { class: 'mono', text: f.path }), el('span', { class: 'where', text: (f.actions || []).join('; ') })));
  if (r.other) list.append(el('li', { class: 'where', text: `${r.other} other uncommitted file(s) in the folder are not included (not changed by this page).` }));
  $('c-message').value = r.message || '';
  $('c-commit').disabled = !r.git || !r.files.length;
}

async function commit() {
  $('c-error').textContent = '';
  const r0 = await api('GET', '/api/changes');
  try {
    const r = await api('POST', '/api/commit', { files: r0.files.map((f) => f.path), message: $('c-message').value });
    status(`Committed ${r.files.length} file(s) as ${r.commit.slice(0, 10)} (not pushed)`);
    await loadChanges();
  } catch (e) {
    $('c-error').textContent = e.message;
  }
}

// ---- wiring ----

function setup() {
  setupTabs();
  for (const id of ['f-env', 'f-app', 'f-status']) $(id).addEventListener('change', () => { state.page = 0; applyFilters(); });
  let searchTimer = null;
  $('f-search').addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(() => { state.page = 0; applyFilters(); }, 80); });
  for (const b of document.querySelectorAll('button.sort')) {
    b.addEventListener('click', () => {
      const k = b.dataset.key;
      state.sort = { key: k, dir: state.sort.key === k ? -state.sort.dir : 1 };
      applyFilters();
    });
  }
  $('page-prev').addEventListener('click', () => { state.page--; renderSecrets(); });
  $('page-next').addEventListener('click', () => { state.page++; renderSecrets(); });
  $('add-form').addEventListener('submit', submitAdd);
  $('a-name').addEventListener('input', () => { clearTimeout(nameTimer); nameTimer = setTimeout(checkName, 120); });
  $('a-env').addEventListener('change', checkName);
  $('a-app').addEventListener('change', checkName);
  $('a-show').addEventListener('click', () => {
    const v = $('a-value');
    const show = v.type === 'password';
    v.type = show ? 'text' : 'password';
    $('a-show').setAttribute('aria-pressed', show ? 'true' : 'false');
    $('a-show').textContent = show ? 'Hide' : 'Show';
  });
  $('a-generate').addEventListener('click', () => generateInto($('a-value'), $('a-length')));
  $('edit-form').addEventListener('submit', submitEdit);
  $('ed-cancel').addEventListener('click', () => $('edit-dialog').close());
  $('ed-generate').addEventListener('click', () => generateInto($('ed-value')));
  $('edit-dialog').addEventListener('close', () => { $('ed-value').value = ''; });
  $('delete-form').addEventListener('submit', submitDelete);
  $('del-cancel').addEventListener('click', () => $('delete-dialog').close());
  $('del-confirm').addEventListener('input', () => { $('del-go').disabled = !deleting || $('del-confirm').value !== deleting.name; });
  $('hist-close').addEventListener('click', () => $('history-dialog').close());
  $('member-form').addEventListener('submit', submitMember);
  $('rekey-run').addEventListener('click', runRekey);
  $('env-form').addEventListener('submit', submitEnv);
  $('app-form').addEventListener('submit', submitApp);
  $('c-commit').addEventListener('click', () => commit().catch((e) => { $('c-error').textContent = e.message; }));
  // values leave the page when it is hidden or closed
  document.addEventListener('visibilitychange', () => { if (document.hidden) for (const k of [...state.revealed.keys()]) hideValue(k, true); });
}

async function main() {
  setup();
  try {
    await loadSession();
    await loadSecrets();
    document.body.dataset.ready = 'true';
    refreshChangeCount();
  } catch (e) {
    status(e.message, true);
    document.body.dataset.ready = 'error';
  }
}

main();
