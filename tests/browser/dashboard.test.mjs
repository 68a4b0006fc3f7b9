#!/usr/bin/env node
// dashboard.test.mjs — drives herald's dashboard in a real browser (Debian's
// Chromium, headless, through playwright-core) against a real herald started
// here with its own temporary database, and a local webhook receiver.
//
//   HERALD_BIN=build/test/herald node tests/browser/dashboard.test.mjs
//
// Each case prints PASS or FAIL with the reason; the run ends with
// "N passed, N failed" and exits 1 when any case failed. The cases build on
// each other (sign in, create, test, resend…), as a person's session does.
// A screenshot of each page goes to $SCREENSHOT_DIR (default build/screenshots).
// Waits are polls against a deadline ($HERALD_TEST_DEADLINE seconds, 30 by
// default), never sleeps.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEADLINE_MS = Number(process.env.HERALD_TEST_DEADLINE || 30) * 1000;
const SHOTS = process.env.SCREENSHOT_DIR || path.join(ROOT, 'build', 'screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// ---------------------------------------------------------------------------
// helpers

class Failure extends Error {}
function check(cond, what) {
  if (!cond) throw new Failure(what);
}
function eq(got, want, what) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Failure(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

// Calls cond until it returns something truthy, which is returned.
async function waitFor(cond, what, timeout = DEADLINE_MS) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      if (e instanceof Failure) throw e; // a verdict, not a not-yet
      last = e;
    }
    if (Date.now() > end)
      throw new Failure(`timed out waiting for ${what}${last ? ` (${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function heraldBin() {
  if (process.env.HERALD_BIN) return process.env.HERALD_BIN;
  for (const d of ['build/test', 'build/release', 'build-web']) {
    const p = path.join(ROOT, d, 'herald');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  throw new Error('HERALD_BIN is not set and no built herald was found');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------
// herald and the receiver

class Herald {
  async start() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-browser-'));
    this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    this.stderr = '';
    this.proc = spawn(
      heraldBin(),
      [
        'serve',
        '--listen',
        `127.0.0.1:${this.port}`,
        '--db',
        path.join(this.dir, 'herald.db'),
        '--dev',
        '--retry-schedule',
        '0.2,0.4',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.proc.stderr.on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-20000);
    });
    this.exited = new Promise((r) => this.proc.on('exit', (code, sig) => r({ code, sig })));
    await waitFor(async () => {
      if (this.proc.exitCode !== null) throw new Error(`herald exited: ${this.stderr.slice(-2000)}`);
      const r = await fetch(`${this.base}/healthz`).catch(() => null);
      return r && r.ok;
    }, 'herald to answer /healthz');
    this.adminKey = await waitFor(() => {
      try {
        return fs.readFileSync(path.join(this.dir, 'admin.key'), 'utf8').trim();
      } catch {
        return '';
      }
    }, 'admin.key');
    return this;
  }

  async api(method, p, body, key = this.adminKey) {
    const r = await fetch(this.base + p, {
      method,
      headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    return { status: r.status, json, text };
  }

  get alive() {
    return this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  // Stops herald with SIGTERM, which must end it cleanly (exit 0, and
  // under the sanitizers no leak report), and removes its files.
  async stop() {
    if (!this.proc) return;
    try {
      if (!this.alive) {
        const { code, sig } = await this.exited;
        throw new Error(`herald died during the run (${code ?? sig}):\n${this.stderr.slice(-6000)}`);
      }
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), DEADLINE_MS);
      const { code, sig } = await this.exited;
      clearTimeout(t);
      if (code !== 0)
        throw new Error(`herald exited with ${code ?? sig} after SIGTERM:\n${this.stderr.slice(-4000)}`);
    } finally {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

// Answers every request with `status` (200 unless a test changes it), or
// 500 on paths under /always-fail; records what it got.
class Receiver {
  async start() {
    this.status = 200;
    this.requests = [];
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        this.requests.push({
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        });
        const status = req.url.startsWith('/always-fail') ? 500 : this.status;
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify({ received: status < 300, note: status < 300 ? 'thanks' : 'receiver is down' }),
        );
      });
    });
    await new Promise((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  url(p) {
    return this.base + p;
  }
  stop() {
    return new Promise((r) => this.server.close(r));
  }
}

// ---------------------------------------------------------------------------
// the runner

const cases = [];
function test(name, fn) {
  cases.push({ name, fn });
}

let herald;
let receiver;
let browser;
let context;
let page;
const pageErrors = []; // uncaught exceptions, console errors, CSP violations
const visitedUrls = [];
const state = {}; // what one case leaves for the next

async function shot(name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function go(hash) {
  await page.goto(`${herald.base}/${hash}`);
}

async function heading() {
  return (await page.locator('main h1').first().textContent()).trim();
}

// After a resend or a recover the log page reloads itself until the new
// attempt shows. On a loaded machine the dispatcher may take longer than
// that: past half the deadline, press Refresh as a person would.
async function waitForInLog(cond, what) {
  const start = Date.now();
  let pressed = 0;
  return waitFor(async () => {
    if (await cond()) return true;
    if (Date.now() - start > DEADLINE_MS / 2 && Date.now() - pressed > 2000) {
      pressed = Date.now();
      await page.getByRole('button', { name: 'Refresh' }).click();
    }
    return false;
  }, what);
}

// A form control by its label; required fields' labels end with " *".
function byLabel(label) {
  const esc = label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return page.getByLabel(new RegExp(`^${esc}( \\*)?$`));
}

// The error message shown next to a form control, found through the
// control's aria-describedby (what a screen reader would read too).
async function fieldError(label) {
  const input = byLabel(label);
  return input.evaluate((el) => {
    const ids = (el.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean);
    const err = ids
      .map((id) => document.getElementById(id))
      .find((n) => n && n.classList.contains('field-error') && !n.hidden);
    return { invalid: el.getAttribute('aria-invalid') === 'true', message: err ? err.textContent : '' };
  });
}

// ---------------------------------------------------------------------------
// cases

test('the dashboard is served by herald with a strict CSP', async () => {
  const r = await fetch(`${herald.base}/`);
  eq(r.status, 200, 'GET /');
  const csp = r.headers.get('content-security-policy') || '';
  check(/script-src 'self'/.test(csp) && !/unsafe-inline/.test(csp), `CSP: ${csp}`);
  const html = await r.text();
  check(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), 'index.html has no inline script');
  check(!/\sstyle=/i.test(html) && !/\son[a-z]+=/i.test(html), 'index.html has no inline style or handler');
  const js = await fetch(`${herald.base}/js/main.js`);
  eq(js.status, 200, 'GET /js/main.js');
  check(
    /javascript/.test(js.headers.get('content-type') || ''),
    `main.js type ${js.headers.get('content-type')}`,
  );
});

test('sign in: a wrong key is refused, the admin key gets in', async () => {
  await go('');
  await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
  await shot('01-sign-in');
  await byLabel('API key').fill('hk_not_a_real_key_0000000000000000');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await waitFor(
    async () => (await fieldError('API key')).message.includes('not accepted'),
    'the refusal under the key field',
  );
  await byLabel('API key').fill(herald.adminKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  eq(await heading(), 'Webhooks', 'landing page');
  const stored = await page.evaluate(() => ({
    s: sessionStorage.getItem('herald.key'),
    l: localStorage.length,
  }));
  eq(stored.s, herald.adminKey, 'key kept in sessionStorage');
  eq(stored.l, 0, 'nothing in localStorage');
  check(
    (await page.locator('.sidebar').textContent()).includes('Times in Europe/Paris'),
    "times are in the viewer's zone",
  );
});

test('an empty account shows the empty state with a way to create', async () => {
  await page.getByText('No webhooks yet').waitFor();
  await shot('02-webhooks-empty');
});

test("the create form shows the API's validation error next to the field", async () => {
  await page.getByRole('main').getByRole('link', { name: 'Create webhook' }).first().click();
  await page.getByRole('heading', { name: 'Create webhook', exact: true }).waitFor();
  // Every seed-002 field is on the form.
  for (const label of [
    'Name',
    'Callback URL',
    'Method',
    'Content-Type',
    'Max attempts',
    'Status',
    'Secret (optional)',
  ]) {
    const n = await byLabel(label).count();
    check(n === 1, `form field ${label}: ${n} controls`);
  }
  // Every event type of the catalog is offered (the list route pages).
  const types = await herald.api('GET', '/v1/event-types?count=100');
  eq(await page.locator('input[name="events"]').count(), types.json.total, 'one checkbox per event type');
  await byLabel('Name').fill('Orders to CRM');
  await byLabel('Description').fill('Sends published posts to the CRM');
  await byLabel('Callback URL').fill('ftp://x');
  await byLabel('Method').selectOption('PUT');
  await byLabel('Max attempts').fill('1');
  await page.getByLabel('post.published').check();
  await page.getByLabel('post.failed').check();
  await page.getByRole('button', { name: 'Add header' }).click();
  await page.getByLabel('Header name').fill('X-Team');
  await page.getByLabel('Header value').fill('growth');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  const err = await waitFor(async () => {
    const e = await fieldError('Callback URL');
    return e.message ? e : null;
  }, 'an error under Callback URL');
  check(err.invalid, 'the URL input is marked aria-invalid');
  check(/url|http|scheme/i.test(err.message), `the API's message is shown: ${err.message}`);
  const focused = await page.evaluate(
    () => document.activeElement && document.activeElement.getAttribute('name'),
  );
  eq(focused, 'url', 'the invalid field has the focus');
  const list = await herald.api('GET', '/v1/webhooks');
  eq(list.json.total, 0, 'nothing was created');
  await shot('03-form-validation-error');
});

test('the form creates the webhook with every field', async () => {
  await byLabel('Callback URL').fill(receiver.url('/hooks/orders'));
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.getByRole('heading', { name: 'Orders to CRM', exact: true }).waitFor();
  const list = await herald.api('GET', '/v1/webhooks');
  eq(list.json.total, 1, 'one webhook');
  const w = list.json.items[0];
  state.webhook = w;
  eq(
    [w.url, w.method, w.max_attempts, w.enabled, w.description],
    [receiver.url('/hooks/orders'), 'PUT', 1, true, 'Sends published posts to the CRM'],
    'stored fields',
  );
  eq(w.events.slice().sort(), ['post.failed', 'post.published'], 'events');
  eq(w.headers, { 'X-Team': 'growth' }, 'custom headers');
  check(page.url().endsWith(`#/webhooks/${w.id}`), `on the webhook's page: ${page.url()}`);
  await shot('04-webhook-detail');
});

test('send test event shows the outcome, and the log shows the attempt', async () => {
  const before = receiver.requests.length;
  await byLabel('Event type').selectOption('post.published');
  await page.getByRole('button', { name: 'Send test event' }).click();
  const outcome = page.locator('[data-test-outcome]');
  await outcome.waitFor();
  eq(await outcome.getAttribute('data-test-outcome'), 'ok', 'test outcome');
  const text = await outcome.textContent();
  check(text.includes('200'), `response code shown: ${text}`);
  check(text.includes('thanks'), `response body excerpt shown: ${text}`);
  check(/\d+ ms/.test(text), `duration shown: ${text}`);
  const got = receiver.requests.slice(before);
  eq(got.length, 1, 'the receiver got one request');
  check(got[0].headers['webhook-signature'], 'the test request is signed');
  eq(got[0].headers['x-team'], 'growth', 'custom header sent');
  await shot('05-test-event');

  await page.getByRole('link', { name: 'Delivery log' }).first().click();
  await page.getByRole('heading', { name: 'Delivery log', exact: true }).waitFor();
  const row = page.locator('tbody tr[data-outcome="success"]').first();
  await row.waitFor();
  check((await row.textContent()).includes('post.published'), 'event type in the row');
  await row.getByRole('button', { name: /Details of attempt/ }).click();
  const detail = page.locator('.attempt-detail').first();
  await detail.waitFor();
  const d = await detail.textContent();
  check(/webhook-signature/i.test(d), 'request headers shown');
  check(d.includes('post_abc123'), 'payload shown');
  check(d.includes('thanks'), 'response body shown');
  await shot('06-delivery-log');
});

test('a failed delivery is resent and the new attempt succeeds', async () => {
  const w = state.webhook;
  receiver.status = 500;
  const ev = await herald.api('POST', '/v1/events', {
    type: 'post.published',
    data: { post_id: 'post_resend', note: '<img src=x onerror=alert(1)>' },
  });
  eq(ev.status, 202, `publish (${ev.text})`);
  eq(ev.json.deliveries, 1, 'one delivery');
  state.eventId = ev.json.id;
  // The dashboard shows it once the dispatcher has tried: refresh until then.
  const failed = page.locator('tbody tr[data-outcome="failure"]').first();
  await waitFor(async () => {
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator('tbody tr').first().waitFor();
    return (await failed.count()) > 0;
  }, 'the failed attempt in the log');
  check((await failed.textContent()).includes('500'), 'the failure shows HTTP 500');
  const delivery = await failed.getAttribute('data-delivery');
  check(delivery, 'the row names its delivery');
  await shot('07-log-failure');

  receiver.status = 200;
  await failed.getByRole('button', { name: 'Resend' }).click();
  const ok = page.locator(`tbody tr[data-delivery="${delivery}"][data-outcome="success"]`);
  await waitForInLog(async () => (await ok.count()) > 0, 'the resent attempt to appear');
  const cells = await ok.first().locator('td').allTextContents();
  check(
    cells.some((c) => c.trim() === '2'),
    `the new attempt is attempt 2: ${cells.join(' | ')}`,
  );
  check(
    cells.some((c) => c.includes('200')),
    'with HTTP 200',
  );
  eq(
    await page.locator(`tbody tr[data-delivery="${delivery}"]`).count(),
    2,
    'both attempts of the delivery listed',
  );
  // The attacker-controlled payload is shown as text, never parsed as HTML.
  await ok
    .first()
    .getByRole('button', { name: /Details of attempt/ })
    .click();
  await waitFor(
    async () => (await page.locator('.attempt-detail').filter({ hasText: 'onerror' }).count()) > 0,
    'the payload text',
  );
  eq(await page.locator('.attempt-detail img').count(), 0, 'no element built from the payload');
  await shot('08-log-resent');
});

test('the log filters by outcome', async () => {
  await page.getByLabel('Outcome').selectOption('failure');
  await waitFor(
    async () =>
      (await page.locator('tbody tr[data-outcome="success"]').count()) === 0 &&
      (await page.locator('tbody tr[data-outcome="failure"]').count()) === 1,
    'only the failure listed',
  );
  check(page.url().includes('status=failure'), `the filter is in the URL: ${page.url()}`);
  await page.getByLabel('Outcome').selectOption('');
  await waitFor(
    async () => (await page.locator('tbody tr[data-outcome]').count()) === 3,
    'all three attempts',
  );
});

test('the event page shows the delivery and its attempts', async () => {
  await go(`#/events/${state.eventId}`);
  await page.getByRole('heading', { name: 'post.published', exact: true }).waitFor();
  const card = page.locator('section.delivery').first();
  await card.waitFor();
  const t = await card.textContent();
  check(t.includes('Orders to CRM'), 'names the webhook');
  check(t.includes('Succeeded'), `status succeeded: ${t}`);
  eq(await card.locator('tbody tr[data-outcome]').count(), 2, 'two attempts');
  check((await page.locator('pre.code').first().textContent()).includes('post_resend'), 'the event data');
  await shot('09-event');
});

test('reveal, copy and rotate the secret', async () => {
  const w = state.webhook;
  await go(`#/webhooks/${w.id}`);
  await page.getByRole('heading', { name: 'Orders to CRM', exact: true }).waitFor();
  const value = page.getByLabel('Signing secret');
  check(!(await value.inputValue()).match(/^whsec_[A-Za-z0-9+/=]{20,}$/), 'masked before reveal');
  await page.getByRole('button', { name: 'Reveal' }).click();
  const api1 = (await herald.api('GET', `/v1/webhooks/${w.id}/secret`)).json.secret;
  await waitFor(async () => (await value.inputValue()) === api1, 'the revealed secret');
  await page.getByRole('button', { name: 'Copy' }).click();
  await page.getByText('Secret copied to the clipboard').waitFor();
  // Rotate asks first; Escape cancels and gives the focus back.
  await page.getByRole('button', { name: 'Rotate' }).click();
  const dialog = page.getByRole('dialog', { name: 'Rotate secret?' });
  await dialog.waitFor();
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  eq(await page.evaluate(() => document.activeElement.textContent.trim()), 'Rotate', 'focus back on Rotate');
  eq((await herald.api('GET', `/v1/webhooks/${w.id}/secret`)).json.secret, api1, 'Escape rotated nothing');
  await page.getByRole('button', { name: 'Rotate' }).click();
  await dialog.getByRole('button', { name: 'Rotate secret' }).click();
  await waitFor(async () => {
    const now = (await herald.api('GET', `/v1/webhooks/${w.id}/secret`)).json.secret;
    return now !== api1 && (await value.inputValue()) === now;
  }, 'the new secret shown');
});

test('the list searches, filters, sorts and toggles', async () => {
  const z = await herald.api('POST', '/v1/webhooks', {
    name: 'Zeta analytics',
    url: receiver.url('/z'),
    events: ['analytics.*'],
    enabled: false,
  });
  eq(z.status, 201, `create Zeta (${z.text})`);
  state.zeta = z.json;
  const f = await herald.api('POST', '/v1/webhooks', {
    name: 'Always failing',
    url: receiver.url('/always-fail'),
    events: ['post.failed'],
    max_attempts: 1,
  });
  eq(f.status, 201, `create Always failing (${f.text})`);
  state.failing = f.json;
  await go('#/webhooks');
  const rows = page.locator('table tbody tr');
  await waitFor(async () => (await rows.count()) === 3, 'three webhooks');
  eq((await rows.first().locator('a').first().textContent()).trim(), 'Always failing', 'sorted by name');
  await page.getByRole('button', { name: 'Name', exact: false }).first().click(); // toggles to descending
  await waitFor(
    async () => (await rows.first().locator('a').first().textContent()).trim() === 'Zeta analytics',
    'descending order',
  );
  check(page.url().includes('order=-name'), `order in the URL: ${page.url()}`);
  await page.getByLabel('Search by name').fill('zeta');
  await waitFor(async () => (await rows.count()) === 1, 'search narrows to one');
  await page.getByLabel('Search by name').fill('');
  await page.getByLabel('Status').selectOption('false');
  await waitFor(
    async () => (await rows.count()) === 1 && (await rows.first().textContent()).includes('Zeta'),
    'inactive filter',
  );
  await page.getByLabel('Status').selectOption('');
  await byLabel('Event').selectOption('post.failed');
  await waitFor(async () => (await rows.count()) === 2, 'event filter: two subscribe to post.failed');
  await byLabel('Event').selectOption('');
  await waitFor(async () => (await rows.count()) === 3, 'all three again');
  // Enable Zeta from the list.
  const sw = page.getByRole('switch', { name: /Zeta analytics/ });
  eq(await sw.getAttribute('aria-checked'), 'false', 'Zeta starts inactive');
  await sw.click();
  await waitFor(async () => (await sw.getAttribute('aria-checked')) === 'true', 'the switch turns on');
  eq((await herald.api('GET', `/v1/webhooks/${state.zeta.id}`)).json.enabled, true, 'enabled in the API');
  await sw.click();
  await waitFor(
    async () => (await herald.api('GET', `/v1/webhooks/${state.zeta.id}`)).json.enabled === false,
    'disabled again',
  );
  await shot('10-webhooks-list');
});

test('the edit form reads back and saves', async () => {
  await go(`#/webhooks/${state.webhook.id}/edit`);
  await page.getByRole('heading', { name: 'Edit Orders to CRM', exact: true }).waitFor();
  eq(await byLabel('Callback URL').inputValue(), receiver.url('/hooks/orders'), 'URL read back');
  eq(await byLabel('Method').inputValue(), 'PUT', 'method read back');
  check(await page.getByLabel('post.failed').isChecked(), 'events read back');
  await byLabel('Max attempts').fill('30');
  await page.getByRole('button', { name: 'Save' }).click();
  await waitFor(async () => (await fieldError('Max attempts')).message, 'the max_attempts error');
  await byLabel('Max attempts').fill('3');
  await byLabel('Content-Type').selectOption('application/x-www-form-urlencoded');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('heading', { name: 'Orders to CRM', exact: true }).waitFor();
  const w = (await herald.api('GET', `/v1/webhooks/${state.webhook.id}`)).json;
  eq([w.max_attempts, w.content_type, w.method], [3, 'application/x-www-form-urlencoded', 'PUT'], 'saved');
});

test('delete asks first, then deletes', async () => {
  await go(`#/webhooks/${state.zeta.id}`);
  await page.getByRole('heading', { name: 'Zeta analytics', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Delete' }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete webhook?' });
  await dialog.waitFor();
  await shot('11-delete-dialog');
  await dialog.getByRole('button', { name: 'Delete webhook' }).click();
  await page.getByRole('heading', { name: 'Webhooks', exact: true }).waitFor();
  eq((await herald.api('GET', `/v1/webhooks/${state.zeta.id}`)).status, 404, 'gone from the API');
  await go(`#/webhooks/${state.zeta.id}`);
  await page.getByText('Not found').waitFor();
});

test('the overview draws the last hour and lists failing webhooks', async () => {
  const ev = await herald.api('POST', '/v1/events', { type: 'post.failed', data: { post_id: 'p1' } });
  eq(ev.status, 202, 'publish post.failed');
  await waitFor(async () => {
    const log = await herald.api('GET', `/v1/webhooks/${state.failing.id}/log`);
    return log.json && log.json.total >= 1;
  }, 'the always-failing webhook to fail');
  // Disable one so the disabled list has something.
  await herald.api('PATCH', `/v1/webhooks/${state.webhook.id}`, { enabled: false });
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview' }).click();
  await page.getByRole('heading', { name: 'Overview', exact: true }).waitFor();
  const failing = page.locator('section', {
    has: page.getByRole('heading', { name: 'Failing webhooks', exact: true }),
  });
  await waitFor(
    async () => (await failing.textContent()).includes('Always failing'),
    'the failing webhook listed',
  );
  const disabled = page.locator('section', {
    has: page.getByRole('heading', { name: 'Disabled webhooks', exact: true }),
  });
  await waitFor(
    async () => (await disabled.textContent()).includes('Orders to CRM'),
    'the disabled webhook listed',
  );
  await waitFor(async () => {
    if (await page.getByText('does not report statistics').count())
      throw new Failure('GET /v1/stats answered 404');
    return (await page.locator('svg.chart').count()) === 3;
  }, 'three charts');
  check((await page.locator('svg.chart rect.bar-ok').count()) >= 1, 'bars for the successful attempts');
  check((await page.locator('svg.chart rect.bar-bad').count()) >= 1, 'bars for the failed attempts');
  const tiles = await page.locator('.tiles').textContent();
  check(/Attempts\s*[1-9]/.test(tiles), `attempts tile: ${tiles}`);
  await shot('12-overview');
});

test('recover queues the failed deliveries again', async () => {
  const id = state.failing.id;
  const before = (await herald.api('GET', `/v1/webhooks/${id}/log`)).json.total;
  check(before >= 1, 'the always-failing webhook has failed');
  await go(`#/webhooks/${id}/log`);
  await page.getByRole('heading', { name: 'Delivery log', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Recover failed since…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Recover failed deliveries' });
  await dialog.waitFor();
  check((await byLabel('Failed since').inputValue()) !== '', 'a default start time');
  await shot('13-recover-dialog');
  await dialog.getByRole('button', { name: 'Recover' }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByText(/failed deliver(y|ies) queued again/).waitFor();
  // The dispatcher tries again (and fails again: /always-fail), and the log
  // reloads itself until the new attempt shows.
  await waitForInLog(
    async () => (await page.locator('tbody tr[data-outcome="failure"]').count()) > before,
    'the new attempt in the log',
  );
});

test('an admin switches account', async () => {
  const acct = await herald.api('POST', '/v1/accounts', { name: 'second-team' });
  check(acct.status === 201 || acct.status === 200, `create account (${acct.text})`);
  const id = acct.json.id || acct.json.account_id || (acct.json.account && acct.json.account.id);
  check(id, `account id in ${acct.text}`);
  state.accountKey = acct.json.api_key && acct.json.api_key.key;
  await go('#/webhooks');
  await page.reload(); // the switcher lists the accounts known at sign-in or load
  await page.getByRole('heading', { name: 'Webhooks', exact: true }).waitFor();
  const sel = page.getByLabel('Account');
  await waitFor(async () => (await sel.locator('option').count()) >= 2, 'the accounts in the switcher');
  await sel.selectOption(id);
  await page.getByText('No webhooks yet').waitFor();
  eq(await page.evaluate(() => sessionStorage.getItem('herald.account')), id, 'the chosen account is kept');
  await sel.selectOption('');
  await waitFor(
    async () => (await page.locator('table tbody tr').count()) === 2,
    "back to the key's account",
  );
});

test('on a narrow screen the sidebar folds into a menu', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await go('#/webhooks');
  await page.getByRole('heading', { name: 'Webhooks', exact: true }).waitFor();
  const menu = page.getByRole('button', { name: 'Menu' });
  check(await menu.isVisible(), 'menu button shown');
  check(!(await page.getByRole('navigation', { name: 'Main' }).isVisible()), 'sidebar hidden');
  await shot('14-narrow');
  await menu.click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor({ state: 'visible' });
  eq(await menu.getAttribute('aria-expanded'), 'true', 'menu expanded');
  await shot('15-narrow-menu');
  eq(
    await page.evaluate(() => document.activeElement.textContent.trim()),
    'Overview',
    'focus moved into the menu',
  );
  await page.keyboard.press('Escape');
  await waitFor(async () => (await menu.getAttribute('aria-expanded')) === 'false', 'Escape closes the menu');
  eq(
    await page.evaluate(() => document.activeElement.getAttribute('aria-label')),
    'Menu',
    'focus back on the menu button',
  );
  await menu.click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor({ state: 'visible' });
  await page.mouse.click(370, 600); // on the dimmed page beside the menu
  await waitFor(
    async () => (await menu.getAttribute('aria-expanded')) === 'false',
    'a click beside the menu closes it',
  );
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('the keyboard reaches the main actions', async () => {
  await go('#/webhooks');
  await page.reload(); // the tab order starts at the top of a fresh page
  await page.getByRole('heading', { name: 'Webhooks', exact: true }).waitFor();
  const seen = [];
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press('Tab');
    seen.push(
      await page.evaluate(() =>
        (
          document.activeElement.textContent ||
          document.activeElement.getAttribute('aria-label') ||
          ''
        ).trim(),
      ),
    );
  }
  check(seen.includes('Skip to content'), `skip link first: ${seen.join(' | ')}`);
  check(
    seen.includes('Webhooks') && seen.includes('Create webhook'),
    `nav and actions reachable: ${seen.join(' | ')}`,
  );
});

test('the form creates a webhook with a hex signature and its own header', async () => {
  await go('#/webhooks/new');
  await page.getByRole('heading', { name: 'Create webhook', exact: true }).waitFor();
  await byLabel('Name').fill('Hex signed');
  await byLabel('Callback URL').fill(receiver.url('/hooks/hex'));
  await page.getByLabel('post.published').check();
  await byLabel('Secret (optional)').fill('acme-shared-secret-1');
  await page.getByText('Delivery format', { exact: true }).click(); // opens the section
  check(!(await byLabel('Signature header').isVisible()), 'no header override for the standard scheme');
  await byLabel('Signature scheme').selectOption('hex');
  await byLabel('Signature header').waitFor({ state: 'visible' });
  eq(await byLabel('Signature header').getAttribute('placeholder'), 'X-Signature', "the scheme's default");
  check(!(await byLabel('Timestamp header').isVisible()), 'no timestamp header for hex');
  await byLabel('Signature header').fill('X-Acme-Signature');
  await byLabel('Payload format').selectOption('rows');
  await shot('16-form-delivery-format');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.getByRole('heading', { name: 'Hex signed', exact: true }).waitFor();
  const id = decodeURIComponent(page.url().split('#/webhooks/')[1] || '');
  check(id.startsWith('wh'), `on the new webhook's page: ${page.url()}`);
  const r = await herald.api('GET', `/v1/webhooks/${id}`);
  eq(r.status, 200, 'GET the new webhook');
  const w = r.json;
  eq(
    [w.kind, w.signature_scheme, w.signature_header, w.timestamp_header, w.payload_format],
    ['webhook', 'hex', 'X-Acme-Signature', null, 'rows'],
    'delivery format stored',
  );
  state.hex = w;
  // The edit form reads the dialect back, with its section open.
  await go(`#/webhooks/${id}/edit`);
  await page.getByRole('heading', { name: 'Edit Hex signed', exact: true }).waitFor();
  eq(await byLabel('Signature scheme').inputValue(), 'hex', 'scheme read back');
  eq(await byLabel('Signature header').inputValue(), 'X-Acme-Signature', 'header read back');
  eq(await byLabel('Payload format').inputValue(), 'rows', 'payload format read back');
});

test('a chat kind with a form-encoded body shows the error at Content-Type', async () => {
  await go('#/webhooks/new');
  await page.getByRole('heading', { name: 'Create webhook', exact: true }).waitFor();
  await byLabel('Name').fill('Team chat');
  await byLabel('Callback URL').fill(receiver.url('/hooks/chat'));
  await page.getByLabel('post.published').check();
  await byLabel('Content-Type').selectOption('application/x-www-form-urlencoded');
  await page.getByText('Delivery format', { exact: true }).click();
  // A select is usable from the keyboard: focus it and choose with keys.
  await byLabel('Kind').focus();
  await page.keyboard.press('ArrowDown');
  eq(await byLabel('Kind').inputValue(), 'slack', 'ArrowDown picks the next kind');
  const before = (await herald.api('GET', '/v1/webhooks')).json.total;
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  const err = await waitFor(async () => {
    const e = await fieldError('Content-Type');
    return e.message ? e : null;
  }, 'an error under Content-Type');
  check(err.invalid, 'Content-Type is marked aria-invalid');
  check(/application\/json/.test(err.message), `the API's message is shown: ${err.message}`);
  eq(
    await page.evaluate(() => document.activeElement && document.activeElement.getAttribute('name')),
    'content_type',
    'the named field has the focus',
  );
  eq((await fieldError('Kind')).message, '', 'no error under Kind');
  eq((await herald.api('GET', '/v1/webhooks')).json.total, before, 'nothing was created');
  await shot('17-form-chat-error');
});

test('a rejected key goes back to sign in; sign out forgets the key', async () => {
  await page.evaluate(() => sessionStorage.setItem('herald.key', 'hk_revoked_000000000000000000000000'));
  await go('#/overview');
  await page.getByText('Your API key was not accepted').waitFor();
  await byLabel('API key').fill(herald.adminKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
  eq(await page.evaluate(() => sessionStorage.getItem('herald.key')), null, 'key forgotten');
});

test('an account key signs in to its own account, without the switcher', async () => {
  const key = state.accountKey;
  check(key, "the second account's key");
  await byLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('No webhooks yet').waitFor();
  eq(await page.locator('#account-select').count(), 0, 'no account switcher');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
});

test('no script error, CSP violation or key in a URL', async () => {
  check(pageErrors.length === 0, `page errors:\n  ${pageErrors.join('\n  ')}`);
  const leaked = visitedUrls.filter((u) => u.includes(herald.adminKey));
  eq(leaked, [], 'URLs carrying the key');
  const size = fs
    .readdirSync(path.join(ROOT, 'src/web/static'), { recursive: true })
    .map((f) => path.join(ROOT, 'src/web/static', f))
    .filter((f) => fs.statSync(f).isFile() && !f.endsWith('openapi.json'))
    .reduce((n, f) => n + fs.statSync(f).size, 0);
  check(size < 150 * 1024, `dashboard assets are ${size} bytes (budget 150 KiB)`);
});

// ---------------------------------------------------------------------------

async function main() {
  let passed = 0;
  let failed = 0;
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    console.log(`FAIL setup: playwright-core is not installed (run scripts/browser-deps.sh): ${e.message}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  // Screenshots of failures from an earlier run would mislead.
  fs.mkdirSync(SHOTS, { recursive: true });
  for (const f of fs.readdirSync(SHOTS)) if (/^fail-.*\.png$/.test(f)) fs.rmSync(path.join(SHOTS, f));
  try {
    receiver = new Receiver();
    await receiver.start();
    herald = new Herald();
    await herald.start();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--headless',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    // Reduced motion: no sliding menu caught half-way in a screenshot.
    context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      timezoneId: 'Europe/Paris',
      reducedMotion: 'reduce',
    });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: herald.base });
    page = await context.newPage();
    page.setDefaultTimeout(DEADLINE_MS);
    page.on('pageerror', (e) => pageErrors.push(`exception: ${e.message}`));
    page.on('console', (m) => {
      // The API's 4xx answers the cases provoke (401, 404, 422) are logged
      // by the browser as failed loads; anything else is a real error.
      if (
        m.type() === 'error' &&
        !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())
      ) {
        pageErrors.push(`console: ${m.text()}`);
      }
    });
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) visitedUrls.push(f.url());
    });
    page.on('request', (r) => visitedUrls.push(r.url()));
  } catch (e) {
    console.log(`FAIL setup: ${e.stack || e}`);
    failed++;
  }
  if (!failed) {
    for (const c of cases) {
      const t0 = Date.now();
      if (!herald.alive) {
        // Every case would only wait out its deadline: say so at once.
        failed++;
        console.log(`FAIL ${c.name}: herald is not running`);
        continue;
      }
      try {
        await c.fn();
        passed++;
        console.log(`PASS ${c.name} (${Date.now() - t0} ms)`);
      } catch (e) {
        failed++;
        console.log(`FAIL ${c.name}: ${e instanceof Failure ? e.message : e.stack || e}`);
        try {
          await shot(`fail-${c.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`);
        } catch {
          /* no page */
        }
      }
    }
  }
  try {
    if (browser) await browser.close();
  } catch (e) {
    console.log(`note: closing the browser: ${e.message}`);
  }
  try {
    if (herald) await herald.stop();
  } catch (e) {
    failed++;
    console.log(`FAIL herald shutdown: ${e.message}`);
  }
  if (receiver) await receiver.stop();
  console.log(`screenshots in ${SHOTS}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main();
