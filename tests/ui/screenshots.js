// Screenshots of the secrets page for docs/ui.md: a small organization made
// with the CLI, the page in Debian's Chromium, light and dark, 400 px and
// wide.   node screenshots.js ORGSECRETS OUT_DIR
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { chromium } = require('playwright-core');

const [BIN, OUT] = process.argv.slice(2).map((p) => path.resolve(p));
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'orgsecrets-ui-shots.'));
const ENV = Object.assign({}, process.env, { HOME: TMP, GIT_CONFIG_GLOBAL: '/dev/null', ORGSECRETS_NOW: '2026-03-01T10:00:00Z' });
const ORG = path.join(TMP, 'org');
fs.mkdirSync(ORG);
const keys = {};
function cli(args, input, as) {
  const a = ['--dir', ORG];
  if (as) a.push('--as', as, '-i', keys[as.split('@')[0]]);
  const r = spawnSync(BIN, [...a, ...args], { input: input || '', env: ENV, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}
const pub = {};
for (const k of ['alice', 'bob', 'victor', 'ctl']) {
  keys[k] = path.join(TMP, `${k}.key`);
  pub[k] = cli(['keygen', '-o', keys[k]]);
}
spawnSync('git', ['-C', ORG, 'init', '-q']);
cli(['init', '--org', 'acme', '--rotation-days', '90']);
cli(['member', 'add', 'alice@acme.example', '--role', 'admin', '--recipient', pub.alice]);
keys['alice@acme.example'.split('@')[0]] = keys.alice;
const A = 'alice@acme.example';
cli(['member', 'add', 'bob@acme.example', '--role', 'member', '--recipient', pub.bob], '', A);
cli(['member', 'add', 'victor@acme.example', '--role', 'viewer', '--recipient', pub.victor], '', A);
cli(['env', 'add', 'prod', '--controller', pub.ctl, '--namespace', 'web'], '', A);
cli(['env', 'add', 'staging', '--controller', pub.ctl, '--namespace', 'web'], '', A);
cli(['app', 'add', 'billing', '--namespace', 'billing'], '', A);
const secrets = [
  ['ORDERS_DB_PASSWORD', 'prod', 'orders database (Postgres)'],
  ['STRIPE_API_KEY', 'prod', 'payment provider'],
  ['SENTRY_DSN', 'prod', 'error reporting'],
  ['SMTP_PASSWORD', 'staging', 'outgoing mail relay'],
  ['FEATURE_FLAGS_KEY', 'staging', ''],
];
for (const [name, env, desc] of secrets) cli(['set', name, '--env', env, '--description', desc, '--generate'], '', A);
cli(['set', 'STATUS_PAGE_TOKEN', '--env', 'prod', '--visible-to-viewers', '--description', 'public status page', '--generate'], '', A);
cli(['set', 'INVOICE_SIGNING_KEY', '--env', 'prod', '--app', 'billing', '--description', 'PDF invoice signatures', '--generate'], '', A);
cli(['set', 'PASSWORD', '--env', 'staging', '--generate'], '', A);
spawnSync('git', ['-C', ORG, '-c', 'user.name=a', '-c', 'user.email=a@a', 'add', '-A']);
spawnSync('git', ['-C', ORG, '-c', 'user.name=a', '-c', 'user.email=a@a', 'commit', '-qm', 'set-up']);

function start() {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, ['--dir', ORG, '--as', A, '-i', keys.alice, 'ui', '--no-open'], { env: ENV });
    let out = '';
    p.stdout.on('data', (d) => { out += d; const m = out.match(/^(http\S+)\n/); if (m) resolve({ p, url: m[1] }); });
    p.on('exit', (c) => reject(new Error(`exit ${c}`)));
  });
}

(async () => {
  fs.mkdirSync(OUT, { recursive: true });
  const srv = await start();
  const ctx = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(TMP, 'c-')), {
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = ctx.pages()[0];
  await page.goto(srv.url);
  await page.waitForSelector('body[data-ready="true"]');
  // a change, so that the Changes tab has something
  cli(['set', 'SMTP_PASSWORD', '--env', 'staging', '--keep-value', '--description', 'outgoing mail relay (SES)'], '', A);
  const shot = async (name, width, scheme, setup) => {
    await page.emulateMedia({ colorScheme: scheme });
    await page.setViewportSize({ width, height: width < 600 ? 860 : 720 });
    await page.click('#tab-secrets');
    await page.waitForSelector('#secrets-body tr');
    if (setup) await setup();
    await page.waitForTimeout(150);
    await page.screenshot({ path: path.join(OUT, `${name}-${scheme}-${width}.png`) });
    await page.keyboard.press('Escape');
  };
  for (const scheme of ['light', 'dark']) {
    for (const width of [1280, 400]) {
      await shot('secrets', width, scheme, async () => {
        await page.locator('#secrets-body tr[data-name="STRIPE_API_KEY"] button[aria-label^="Reveal"]').click();
        await page.waitForSelector('.shown');
      });
      await shot('add', width, scheme, async () => {
        await page.click('#tab-add');
        await page.fill('#a-name', 'API_KEY_DEV');
        await page.selectOption('#a-env', 'prod');
        await page.waitForSelector('#a-name-help.warn');
      });
    }
  }
  await shot('edit', 1280, 'light', async () => {
    await page.locator('#secrets-body tr[data-name="SENTRY_DSN"] button[aria-label^="Edit"]').click();
  });
  await shot('delete', 1280, 'dark', async () => {
    await page.locator('#secrets-body tr[data-name="SENTRY_DSN"] button[aria-label^="Delete"]').click();
    await page.fill('#del-confirm', 'SENTRY_DSN');
  });
  await shot('members', 1280, 'light', async () => { await page.click('#tab-members'); await page.waitForSelector('#members-body tr'); });
  await shot('health', 1280, 'light', async () => { await page.click('#tab-health'); await page.waitForSelector('#findings li'); });
  await shot('history', 1280, 'light', async () => {
    await page.locator('#secrets-body tr[data-name="ORDERS_DB_PASSWORD"] button[aria-label^="History"]').click();
    await page.waitForFunction(() => !/Loading/.test(document.getElementById('hist-list').textContent));
  });
  await ctx.close();
  srv.p.kill('SIGTERM');
  fs.rmSync(TMP, { recursive: true, force: true });
})().catch((e) => { console.error(e); process.exit(1); });
