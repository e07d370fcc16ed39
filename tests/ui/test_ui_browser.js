// The secrets page in a real browser: Debian's Chromium, headless, driven by
// playwright-core, through the stories of an admin, a member and a viewer.
// After each change the files on disk are compared with those the CLI
// writes for the same command on a copy of the folder (same ORGSECRETS_NOW;
// the age ciphertext is random, so encryptedValue is compared by opening
// both), and at the end the browser's console, every response body but the
// explicit reveal answers, and the server's output are searched for the
// values.
//   node test_ui_browser.js ORGSECRETS GEN_TREE [--screenshots DIR]
// Exits 77 (skipped) when Chromium or playwright-core is missing.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');

const CHROMIUM = process.env.ORGSECRETS_CHROMIUM || '/usr/bin/chromium';
const [BIN, GEN_TREE] = process.argv.slice(2).map((p) => path.resolve(p));
const shotsAt = process.argv.indexOf('--screenshots');
const SHOTS = shotsAt > 0 ? path.resolve(process.argv[shotsAt + 1]) : null;
const HIDE_MS = 1500;

if (!fs.existsSync(CHROMIUM)) {
  console.log(`skipped: ${CHROMIUM} is not installed (apt-get install chromium chromium-driver; scripts/deps.sh does)`);
  process.exit(77);
}
let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch (e) {
  console.log('skipped: playwright-core is not installed (npm ci in tests/ui; the ui.npm_ci test does)');
  process.exit(77);
}

let passed = 0, failed = 0;
function check(desc, cond) {
  if (cond) passed++;
  else { failed++; console.log(`FAIL: ${desc}`); }
  return cond;
}

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'orgsecrets-ui-browser.'));
const HOME = path.join(TMP, 'home');
fs.mkdirSync(HOME);
const NOW = '2026-03-01T10:00:00Z';
const ENV = Object.assign({}, process.env, {
  HOME, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', ORGSECRETS_NOW: NOW,
});
for (const k of ['ORGSECRETS_DIR', 'ORGSECRETS_USER', 'ORGSECRETS_IDENTITY']) delete ENV[k];
const VALUES = [];
const LOG = [];
const KEYS = {};

function cli(dir, args, opts = {}) {
  const full = ['--dir', dir];
  if (opts.as) full.push('--as', opts.as, '-i', KEYS[opts.as.split('@')[0]].file);
  full.push(...args);
  const r = spawnSync(BIN, full, { input: opts.input || '', env: ENV, encoding: 'utf8' });
  if (args[0] !== 'reveal') LOG.push(r.stdout);
  LOG.push(r.stderr);
  if (r.status !== 0 && !opts.mayFail) throw new Error(`orgsecrets ${args.join(' ')}: ${r.stderr}`);
  return r;
}

function git(dir, ...args) {
  return spawnSync('git', ['-C', dir, ...args], { env: ENV, encoding: 'utf8' });
}

function value(tag) {
  const v = `${tag}-${require('crypto').randomBytes(9).toString('hex')}`;
  VALUES.push(v);
  return v;
}

// ---- the organization, and its twin for the CLI ----
const UI = path.join(TMP, 'ui-org');
const TWIN = path.join(TMP, 'cli-org');
fs.mkdirSync(UI);
for (const who of ['alice', 'bob', 'victor', 'carol', 'ctl']) {
  const file = path.join(TMP, `${who}.key`);
  KEYS[who] = { file, pub: cli(UI, ['keygen', '-o', file]).stdout.trim() };
}
git(UI, 'init', '-q', '.');
cli(UI, ['init', '--org', 'acme', '--rotation-days', '90']);
cli(UI, ['member', 'add', 'alice@acme', '--role', 'admin', '--recipient', KEYS.alice.pub]);
cli(UI, ['member', 'add', 'bob@acme', '--role', 'member', '--recipient', KEYS.bob.pub], { as: 'alice@acme' });
cli(UI, ['member', 'add', 'victor@acme', '--role', 'viewer', '--recipient', KEYS.victor.pub], { as: 'alice@acme' });
cli(UI, ['env', 'add', 'prod', '--controller', KEYS.ctl.pub, '--namespace', 'web'], { as: 'alice@acme' });
cli(UI, ['env', 'add', 'dev', '--controller', KEYS.ctl.pub], { as: 'alice@acme' });
const V_DB = value('db');
const V_PUBLIC = value('public');
cli(UI, ['set', 'ORDERS_DB_URL', '--env', 'prod', '--description', 'orders database'], { as: 'alice@acme', input: V_DB });
cli(UI, ['set', 'STATUS_PAGE_TOKEN', '--env', 'prod', '--visible-to-viewers'], { as: 'alice@acme', input: V_PUBLIC });
git(UI, 'add', '-A');
git(UI, '-c', 'user.name=Setup', '-c', 'user.email=setup@acme', 'commit', '-qm', 'set-up');
fs.cpSync(UI, TWIN, { recursive: true });

// Every file of a folder (but .git), with encryptedValue blocks replaced by
// a marker: ciphertexts are random, their values are compared by opening.
function files(dir) {
  const out = {};
  (function walk(d) {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name === '.git') continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = fs.readFileSync(p, 'utf8')
        .replace(/encryptedValue: \|\n(?: {4}.*\n)+/g, 'encryptedValue: <sealed>\n');
    }
  })(dir);
  return out;
}

function sameFiles(what, name, env) {
  const a = files(UI), b = files(TWIN);
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  let same = true;
  for (const k of keys) {
    if (a[k] !== b[k]) {
      same = false;
      console.log(`  ${what}: ${k} differs\n--- page\n${a[k]}\n--- cli\n${b[k]}`);
    }
  }
  check(`${what}: the page wrote the same files as the CLI`, same);
  if (name) {
    const x = cli(UI, ['reveal', name, '--env', env], { as: 'alice@acme', mayFail: true });
    const y = cli(TWIN, ['reveal', name, '--env', env], { as: 'alice@acme', mayFail: true });
    check(`${what}: both open to the same value`, x.status === 0 && x.stdout === y.stdout);
  }
}

// ---- the page's server ----
function startServer(dir, who, extra = []) {
  return new Promise((resolve, reject) => {
    const args = ['--dir', dir];
    if (who) args.push('--as', who, '-i', KEYS[who.split('@')[0]] ? KEYS[who.split('@')[0]].file : who);
    const p = spawn(BIN, [...args, 'ui', '--no-open', '--test-hide-after-ms', String(HIDE_MS), ...extra], { env: ENV });
    let out = '', err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^(http:\/\/[^\s]+\/\?token=[0-9a-f]{64})\n/);
      if (m) resolve({ proc: p, url: m[1], output: () => out + err });
    });
    p.on('exit', (code) => reject(new Error(`orgsecrets ui exited ${code}: ${err}`)));
  });
}

async function stopServer(srv) {
  if (srv.proc.exitCode === null) {
    const done = new Promise((r) => srv.proc.on('exit', r));
    srv.proc.kill('SIGTERM');
    await done;
  }
  LOG.push(srv.output());
}

const NETWORK = [];
const CONSOLE = [];
const PAGE_ERRORS = [];

async function browser(colorScheme) {
  const udd = fs.mkdtempSync(path.join(TMP, 'chromium-'));
  const ctx = await chromium.launchPersistentContext(udd, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1280, height: 860 }, colorScheme,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write']).catch(() => {});
  return ctx;
}

async function openPage(ctx, srv) {
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('console', (m) => CONSOLE.push(m.text()));
  page.on('pageerror', (e) => { CONSOLE.push(String(e)); PAGE_ERRORS.push(String(e)); });
  page.on('response', async (r) => {
    const u = new URL(r.url());
    if (u.pathname === '/api/reveal' || u.pathname === '/api/generate') return; // the explicit value answers
    try { NETWORK.push(`${u.pathname} ${await r.text()}`); } catch (e) { /* redirects have no body */ }
  });
  await page.goto(srv.url);
  await page.waitForSelector('body[data-ready]');
  check('the page loaded', await page.getAttribute('body', 'data-ready') === 'true');
  return page;
}

const row = (page, name) => page.locator(`#secrets-body tr[data-name="${name}"]`);

async function addSecret(page, name, val, desc, extra = {}) {
  await page.click('#tab-add');
  await page.fill('#a-name', name);
  if (extra.env) await page.selectOption('#a-env', extra.env);
  await page.fill('#a-value', val);
  await page.fill('#a-desc', desc || '');
  await page.click('#a-submit');
}

async function adminStory(ctx) {
  const srv = await startServer(UI, 'alice@acme');
  const page = await openPage(ctx, srv);
  check('the token left the address bar', !page.url().includes('token') && page.url().endsWith('/'));
  check('the list shows the secrets', await row(page, 'ORDERS_DB_URL').count() === 1);
  check('no value is in the page before a reveal', !(await page.content()).includes(V_DB));
  check('the acting member is shown', (await page.textContent('#who')).includes('alice@acme'));

  // naming: the rule, then the advice lint gives
  await page.click('#tab-add');
  await page.fill('#a-name', 'bad-name');
  await page.waitForSelector('#a-name-help.bad');
  check('an invalid name is refused as it is typed', await page.getAttribute('#a-name', 'aria-invalid') === 'true');
  await page.fill('#a-name', 'PASSWORD');
  await page.waitForSelector('#a-name-help.warn');
  check('a vague name gets the naming warning', /vague/i.test(await page.textContent('#a-name-help')));
  await page.fill('#a-name', 'PAYMENT_API_KEY');
  await page.waitForFunction(() => document.getElementById('a-name-help').textContent === 'Looks good.');
  check('a good name is accepted', true);

  // an empty value is refused, and nothing is written
  const before = JSON.stringify(files(UI));
  await page.fill('#a-value', '');
  await page.click('#a-submit');
  await page.waitForFunction(() => document.getElementById('a-error').textContent !== '');
  check('an empty value is refused', /empty value/.test(await page.textContent('#a-error')));
  check('an empty value writes nothing', JSON.stringify(files(UI)) === before);

  // create
  const V1 = value('pay');
  await addSecret(page, 'PAYMENT_API_KEY', V1, 'payment provider');
  await page.waitForFunction(() => /Created/.test(document.getElementById('status').textContent));
  check('the value field is cleared after saving', await page.inputValue('#a-value') === '');
  cli(TWIN, ['set', 'PAYMENT_API_KEY', '--env', 'prod', '--description', 'payment provider'], { as: 'alice@acme', input: V1 });
  sameFiles('create', 'PAYMENT_API_KEY', 'prod');

  // a duplicate name is refused
  await addSecret(page, 'PAYMENT_API_KEY', value('dup'), '');
  await page.waitForFunction(() => document.getElementById('a-error').textContent !== '');
  check('a duplicate name is refused', /already exists/.test(await page.textContent('#a-error')));
  sameFiles('duplicate refused');

  // reveal, then the value hides itself again
  await page.click('#tab-secrets');
  await page.fill('#f-search', 'PAYMENT');
  await page.waitForFunction(() => document.querySelectorAll('#secrets-body tr').length === 1);
  await row(page, 'PAYMENT_API_KEY').locator('button[aria-label^="Reveal"]').click();
  await page.waitForSelector('#secrets-body .shown');
  check('reveal shows the value', (await row(page, 'PAYMENT_API_KEY').locator('.shown').textContent()) === V1);
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'ui-revealed.png') });
  const t0 = Date.now();
  await page.waitForSelector('#secrets-body .shown', { state: 'detached', timeout: HIDE_MS + 5000 });
  const hidden = Date.now() - t0;
  check(`the value hides itself after the delay (${hidden} ms)`, hidden >= HIDE_MS - 600);
  check('once hidden the value is gone from the page', !(await page.content()).includes(V1));

  // copy to the clipboard
  await row(page, 'PAYMENT_API_KEY').locator('button[aria-label^="Copy"]').click();
  await page.waitForFunction(() => /Copied/.test(document.getElementById('status').textContent));
  const clip = await page.evaluate(() => navigator.clipboard.readText()).catch(() => null);
  check('copy puts the value on the clipboard', clip === null || clip === V1);
  check('copy does not show the value', !(await page.content()).includes(V1));

  // edit value and description
  const V2 = value('pay2');
  await row(page, 'PAYMENT_API_KEY').locator('button[aria-label^="Edit"]').click();
  await page.fill('#ed-value', V2);
  await page.fill('#ed-desc', 'payment provider, rotated');
  await page.click('#ed-save');
  await page.waitForFunction(() => /Updated/.test(document.getElementById('status').textContent));
  cli(TWIN, ['set', 'PAYMENT_API_KEY', '--env', 'prod', '--description', 'payment provider, rotated'], { as: 'alice@acme', input: V2 });
  sameFiles('edit value and description', 'PAYMENT_API_KEY', 'prod');

  // the description alone (the value is kept)
  await row(page, 'PAYMENT_API_KEY').locator('button[aria-label^="Edit"]').click();
  await page.fill('#ed-desc', 'payment provider (Stripe)');
  await page.focus('#ed-value');
  await page.keyboard.press('Enter'); // Enter in a field saves the dialog
  await page.waitForFunction(() => !document.getElementById('edit-dialog').open);
  await page.waitForFunction(() => /Updated/.test(document.getElementById('status').textContent));
  cli(TWIN, ['set', 'PAYMENT_API_KEY', '--env', 'prod', '--keep-value', '--description', 'payment provider (Stripe)'], { as: 'alice@acme' });
  sameFiles('edit description only', 'PAYMENT_API_KEY', 'prod');

  // Escape closes a dialog without saving
  await row(page, 'PAYMENT_API_KEY').locator('button[aria-label^="Edit"]').click();
  await page.fill('#ed-desc', 'not saved');
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => !document.getElementById('edit-dialog').open);
  sameFiles('Escape cancels');

  // disable
  await row(page, 'PAYMENT_API_KEY').locator('button[aria-label^="Edit"]').click();
  await page.selectOption('#ed-state', 'disabled');
  await page.click('#ed-save');
  await page.waitForFunction(() => /Updated/.test(document.getElementById('status').textContent));
  await page.waitForFunction(() => document.querySelector('#secrets-body tr[data-name="PAYMENT_API_KEY"] td.state-disabled'));
  cli(TWIN, ['set', 'PAYMENT_API_KEY', '--env', 'prod', '--disable'], { as: 'alice@acme' });
  sameFiles('disable', 'PAYMENT_API_KEY', 'prod');

  // delete, confirmed by typing the name
  await row(page, 'PAYMENT_API_KEY').locator('button[aria-label^="Delete"]').click();
  await page.fill('#del-confirm', 'PAYMENT_API_KE');
  check('delete stays disabled until the name is typed', await page.isDisabled('#del-go'));
  await page.fill('#del-confirm', 'PAYMENT_API_KEY');
  check('the typed name enables delete', !(await page.isDisabled('#del-go')));
  await page.click('#del-go');
  await page.waitForFunction(() => /Deleted/.test(document.getElementById('status').textContent));
  check('the deleted secret left the list', await row(page, 'PAYMENT_API_KEY').count() === 0);
  cli(TWIN, ['delete', 'PAYMENT_API_KEY', '--env', 'prod', '--yes'], { as: 'alice@acme' });
  sameFiles('delete');

  // add a member; the re-seal it needs is shown
  await page.fill('#f-search', '');
  await page.click('#tab-members');
  await page.waitForSelector('#members-body tr');
  await page.fill('#m-name', 'carol@acme');
  await page.selectOption('#m-role', 'member');
  await page.fill('#m-recipient', KEYS.carol.pub);
  await page.click('#member-form button[type=submit]');
  await page.waitForFunction(() => /Added carol/.test(document.getElementById('status').textContent));
  cli(TWIN, ['member', 'add', 'carol@acme', '--role', 'member', '--recipient', KEYS.carol.pub], { as: 'alice@acme' });
  sameFiles('add a member');
  // the status line is set before the members (and the banner) are reloaded
  await page.waitForSelector('#rekey-banner', { state: 'visible', timeout: 10000 }).catch(() => {});
  check('the rekey the new member needs is shown', await page.isVisible('#rekey-banner') &&
    /out-of-date/.test(await page.textContent('#rekey-text')));
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'ui-members.png') });

  // history of a secret (from Git)
  await page.click('#tab-secrets');
  await row(page, 'ORDERS_DB_URL').locator('button[aria-label^="History"]').click();
  await page.waitForFunction(() => !/Loading/.test(document.getElementById('hist-list').textContent));
  check('history shows the creating commit', /created/.test(await page.textContent('#hist-list')));
  await page.keyboard.press('Escape');

  // the changed files, then a commit as the acting member
  await page.click('#tab-changes');
  await page.waitForFunction(() => document.querySelectorAll('#changes li').length > 0);
  const listed = await page.textContent('#changes');
  check('changes list the member file', listed.includes('organization.yaml'));
  // created and deleted again before any commit: Git sees no change, so neither does the page
  check('a file created then deleted is not listed', !listed.includes('PAYMENT_API_KEY'));
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'ui-changes.png') });
  await page.click('#c-commit');
  await page.waitForFunction(() => /Committed/.test(document.getElementById('status').textContent));
  const author = git(UI, 'log', '-1', '--format=%an <%ae>').stdout.trim();
  check(`the commit's author is the acting member (${author})`, author === 'alice@acme <alice@acme>');
  check('the commit left nothing uncommitted', git(UI, 'status', '--porcelain').stdout.trim() === '');
  check('nothing was pushed (no remote)', git(UI, 'remote').stdout.trim() === '');

  await page.close();
  await stopServer(srv);
}

async function memberStory(ctx) {
  const srv = await startServer(UI, 'bob@acme');
  const page = await openPage(ctx, srv);
  check('member: no delete button', await page.locator('button[aria-label^="Delete"]').count() === 0);
  check('member: edit is offered', await row(page, 'ORDERS_DB_URL').locator('button[aria-label^="Edit"]').count() === 1);
  await row(page, 'ORDERS_DB_URL').locator('button[aria-label^="Reveal"]').click();
  await page.waitForSelector('#secrets-body .shown');
  check('member: reveal works', (await page.textContent('#secrets-body .shown')) === V_DB);
  // the server refuses a delete even when asked directly
  const r = await page.evaluate(async () => {
    const s = await (await fetch('/api/session')).json();
    const x = await fetch('/api/secrets/delete', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf },
      body: JSON.stringify({ environment: 'prod', name: 'ORDERS_DB_URL', confirm: 'ORDERS_DB_URL' }) });
    return { status: x.status, body: await x.json() };
  });
  check(`member: the API refuses a delete (${r.status})`, r.status === 403 && /permission denied/.test(r.body.error));
  await page.close();
  await stopServer(srv);
}

async function viewerStory(ctx) {
  const srv = await startServer(UI, 'victor@acme');
  const page = await openPage(ctx, srv);
  const hiddenRow = row(page, 'ORDERS_DB_URL');
  check('viewer: no eye for a secret not visible to viewers', await hiddenRow.locator('button[aria-label^="Reveal"]').count() === 0);
  check('viewer: says why instead', /viewers/.test(await hiddenRow.locator('button.no-reveal').getAttribute('aria-label')));
  check('viewer: no edit or delete', await page.locator('button[aria-label^="Edit"], button[aria-label^="Delete"]').count() === 0);
  await row(page, 'STATUS_PAGE_TOKEN').locator('button[aria-label^="Reveal"]').click();
  await page.waitForSelector('#secrets-body .shown');
  check('viewer: a secret visible to viewers can be revealed', (await page.textContent('#secrets-body .shown')) === V_PUBLIC);
  await page.click('#tab-add');
  check('viewer: adding is refused with a reason', await page.isVisible('#add-denied') && await page.isDisabled('#a-submit'));
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'ui-viewer.png') });
  await page.close();
  await stopServer(srv);
}

async function keyboardStory(ctx) {
  const srv = await startServer(UI, 'alice@acme');
  const page = await openPage(ctx, srv);
  await page.focus('#tab-secrets');
  await page.keyboard.press('ArrowRight');
  check('arrow keys move between tabs', await page.evaluate(() => document.activeElement.id) === 'tab-add' &&
    await page.isVisible('#panel-add'));
  await page.keyboard.press('Tab');
  const focus = await page.evaluate(() => document.activeElement.id);
  check(`Tab moves into the panel (${focus})`, focus === 'a-name');
  const unlabeled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((e) => !e.closest('[hidden]') && !e.closest('dialog:not([open])'))
    .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
    .map((e) => e.id || e.outerHTML.slice(0, 60)));
  check(`every control has a label (${unlabeled.join(', ')})`, unlabeled.length === 0);
  for (const width of [400, 1600]) {
    await page.setViewportSize({ width, height: 900 });
    await page.click('#tab-secrets');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(`readable at ${width} px (no page-wide horizontal scroll: ${overflow})`, overflow <= 0);
  }
  await page.close();
  await stopServer(srv);
}

async function bigTree(ctx) {
  if (!GEN_TREE || !fs.existsSync(GEN_TREE)) return;
  const out = path.join(TMP, 'big');
  spawnSync(GEN_TREE, [out, '10000'], { env: ENV });
  KEYS.admin = { file: path.join(out, 'keys', 'admin.key') };
  const srv = await startServer(path.join(out, 'org'), 'admin@bench');
  const page = ctx.pages()[0] || await ctx.newPage();
  const t0 = Date.now();
  await page.goto(srv.url);
  await page.waitForSelector('body[data-ready]');
  const total = Date.now() - t0;
  const listMs = Number(await page.getAttribute('body', 'data-list-ms'));
  const rows = await page.locator('#secrets-body tr').count();
  check(`10,000 secrets: the first page of rows is shown (${rows})`, rows === 100);
  // the bound holds for the plain build; sanitizers slow the server several times
  check(`10,000 secrets: the Secrets tab renders in under 1 s (list fetched, filtered and drawn: ${listMs} ms)`,
    listMs < 1000 || process.env.ORGSECRETS_SANITIZED === '1');
  // again, with the server's cache warm, as after any later change of tab
  const again = await page.evaluate(async () => {
    delete document.body.dataset.listMs;
    document.getElementById('tab-members').click();
    document.getElementById('tab-secrets').click();
    await new Promise((r) => { const w = () => (document.body.dataset.listMs ? r() : setTimeout(w, 5)); w(); });
    return Number(document.body.dataset.listMs);
  });
  const search = await page.evaluate(async () => {
    const t = performance.now();
    const f = document.getElementById('f-search');
    f.value = 'SETTING_99';
    f.dispatchEvent(new Event('input'));
    await new Promise((r) => setTimeout(r, 100));
    return performance.now() - t;
  });
  console.log(`figure: 10,000 secrets: page load to ready ${total} ms; list fetch+render ${listMs} ms cold, ${again} ms warm; search ${Math.round(search)} ms (incl. 80 ms debounce)`);
  await stopServer(srv);
}

(async () => {
  let ctx = null;
  try {
    ctx = await browser('light');
    await adminStory(ctx);
    await memberStory(ctx);
    await viewerStory(ctx);
    await keyboardStory(ctx);
    await bigTree(ctx);
  } catch (e) {
    failed++;
    console.log(`FAIL: ${e.stack || e}`);
  } finally {
    if (ctx) await ctx.close().catch(() => {});
  }
  // no value anywhere but in the reveal answers
  const texts = { 'the browser console': CONSOLE.join('\n'), 'the network responses': NETWORK.join('\n'),
    'the server and CLI output': LOG.join('\n') };
  for (const [where, text] of Object.entries(texts)) {
    const leaked = VALUES.filter((v) => text.includes(v));
    check(`no value in ${where} (${leaked.length} found)`, leaked.length === 0);
  }
  check('the network log was recorded', NETWORK.length > 10);
  check(`no script error in the page (${PAGE_ERRORS.join('; ')})`, PAGE_ERRORS.length === 0);
  const csp = CONSOLE.filter((m) => /Content Security Policy|Refused to/.test(m));
  check(`nothing the Content-Security-Policy had to block (${csp.join('; ')})`, csp.length === 0);
  console.log(`${passed} passed, ${failed} failed`);
  if (failed === 0) fs.rmSync(TMP, { recursive: true, force: true });
  else console.log(`kept ${TMP}`);
  process.exit(failed === 0 ? 0 : 1);
})();
