// End-to-end check of the dashboard at `/` in headless Chromium.
//
//   NODE_PATH=/path/to/node_modules node tests/clients/dashboard.mjs BASE_URL OUT_DIR
//
// Checks: a card for every device of GET /api/devices, the connection shown as
// live, values changing live, a chart with data on every card, no horizontal
// overflow on a phone, no console or page errors; saves
// OUT_DIR/dashboard-desktop.png (1280x800) and OUT_DIR/dashboard-phone.png
// (390x844 at 2x). With env API_KEY, the page is opened as /?token=API_KEY and
// the REST calls here send it as X-API-Key. Env MIN_DEVICES (default 1): the
// fewest devices the server must list (4 for a simulator with every kind).
// Exits non-zero with a message on the first failure.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { CheckFailed, runInBrowser } from './browser.mjs';

const TOTAL_BUDGET_MS = 40_000;
const LIVE_CHANGE_MS = 15_000;
const STEP_MS = 10_000;

const [baseArg, outDir] = process.argv.slice(2);
if (!baseArg || !outDir) {
  console.error('usage: node tests/clients/dashboard.mjs BASE_URL OUT_DIR');
  process.exit(2);
}
const base = baseArg.replace(/\/+$/, '');
const apiKey = process.env.API_KEY || '';
const minDevices = Number(process.env.MIN_DEVICES || 1);
const started = Date.now();

const fail = (message) => {
  throw new CheckFailed(message);
};

// The REST view of the server, as the page should show it.
async function listDevices() {
  const headers = apiKey ? { 'X-API-Key': apiKey } : {};
  const deadline = Date.now() + STEP_MS;
  for (;;) {
    let response;
    try {
      response = await fetch(`${base}/api/devices`, { headers });
    } catch (err) {
      fail(`GET ${base}/api/devices: ${err.cause?.message || err.message}`);
    }
    if (response.status === 401) fail('GET /api/devices: 401 (set API_KEY to the server key)');
    if (!response.ok) fail(`GET /api/devices: HTTP ${response.status}`);
    const devices = await response.json();
    if (!Array.isArray(devices)) fail('GET /api/devices: not a JSON array');
    // A freshly started server may not have heard every sensor yet.
    if (devices.length >= minDevices) return devices;
    if (Date.now() > deadline) {
      fail(`GET /api/devices lists ${devices.length} devices, expected at least ${minDevices}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

// Collects console errors, page errors and failed responses of a page.
function watchErrors(page, label, errors) {
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`${label} console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`${label} page error: ${err.message}`));
  page.on('response', (response) => {
    if (response.status() >= 400) errors.push(`${label} HTTP ${response.status()} ${response.url()}`);
  });
}

const pageUrl = () => `${base}/${apiKey ? `?token=${encodeURIComponent(apiKey)}` : ''}`;

// Waits for `predicate(arg)` in the page, failing with `what` on timeout.
async function waitIn(page, what, predicate, arg, timeout = STEP_MS) {
  try {
    return await page.waitForFunction(predicate, arg, { timeout, polling: 100 });
  } catch (err) {
    if (err.name === 'TimeoutError') fail(`${what} (waited ${timeout / 1000} s)`);
    throw err;
  }
}

// Cards for every device, the live state, and charts with data.
async function waitForDashboard(page, label, ids) {
  await waitIn(
    page,
    `${label}: no card for every device of /api/devices (${ids.join(', ')})`,
    (wanted) => {
      const shown = new Set(
        [...document.querySelectorAll('article.card[data-device-id]')].map((c) => c.dataset.deviceId),
      );
      return wanted.every((id) => shown.has(id));
    },
    ids,
  );
  await waitIn(
    page,
    `${label}: connection indicator never said live`,
    () => {
      const node = document.querySelector('#connection');
      return node && node.dataset.state === 'live' && /live|connected/i.test(node.textContent);
    },
    null,
  );
  await waitIn(
    page,
    `${label}: not every card has a chart with data`,
    () =>
      [...document.querySelectorAll('article.card')].every((card) => {
        const chart = card.querySelector('[data-role="chart"]');
        const line = chart && chart.querySelector('path.line');
        return Number(chart && chart.dataset.points) > 0 && line && /^M[\d.]+ [\d.]+L/.test(line.getAttribute('d'));
      }),
    null,
  );
}

// What only new data changes: the main value, the reading id and its time.
function cardState() {
  return [...document.querySelectorAll('article.card')].map((card) => ({
    id: card.dataset.deviceId,
    value: card.querySelector('[data-role="main-value"]').textContent,
    reading: card.dataset.readingId || '',
    at: card.querySelector('[data-role="age"]').getAttribute('datetime') || '',
  }));
}

async function checkLiveChange(page) {
  const before = await page.evaluate(cardState);
  const t0 = Date.now();
  await waitIn(
    page,
    'no card value, reading or time changed live',
    (initial) => {
      const now = [...document.querySelectorAll('article.card')];
      return initial.some((old) => {
        const card = now.find((c) => c.dataset.deviceId === old.id);
        if (!card) return false;
        const value = card.querySelector('[data-role="main-value"]').textContent;
        const at = card.querySelector('[data-role="age"]').getAttribute('datetime') || '';
        return value !== old.value || (card.dataset.readingId || '') !== old.reading || at !== old.at;
      });
    },
    before,
    LIVE_CHANGE_MS,
  );
  return Date.now() - t0;
}

// Every device whose latest reading has its main quantity shows a number.
async function checkValues(page, devices) {
  const main = { aranet4: 'co2', aranet2: 'temperature', aranet_radiation: 'radiation_rate', aranet_radon: 'radon' };
  const shown = await page.evaluate(cardState);
  for (const device of devices) {
    const field = main[device.kind];
    if (!field || !device.latest || device.latest[field] === null) continue;
    const card = shown.find((c) => c.id === device.id);
    if (!card || !/\d/.test(card.value)) fail(`card of ${device.id} shows "${card && card.value}" for ${field}`);
  }
}

async function checkNoOverflow(page, label) {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: window.innerWidth,
  }));
  if (scroll > width + 1) fail(`${label}: page is ${scroll} px wide in a ${width} px viewport`);
}

async function checkTokenHandling(page, label) {
  if (!apiKey) return;
  const { href, stored } = await page.evaluate(() => ({
    href: window.location.href,
    stored: window.localStorage.getItem('aranet.apiKey'),
  }));
  if (href.includes('token=')) fail(`${label}: the token stays in the address bar (${href})`);
  if (stored !== apiKey) fail(`${label}: the API key was not kept in localStorage`);
}

async function run(browser) {
  const devices = await listDevices();
  const ids = devices.map((d) => d.id);
  const errors = [];
  mkdirSync(outDir, { recursive: true });

  const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await desktop.newPage();
  watchErrors(page, 'desktop', errors);
  await page.goto(pageUrl(), { waitUntil: 'domcontentloaded', timeout: STEP_MS });
  await waitForDashboard(page, 'desktop', ids);
  await checkTokenHandling(page, 'desktop');
  const changedAfter = await checkLiveChange(page);
  await checkValues(page, devices);
  await checkNoOverflow(page, 'desktop');
  await page.screenshot({ path: join(outDir, 'dashboard-desktop.png'), fullPage: true });

  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  const phonePage = await phone.newPage();
  watchErrors(phonePage, 'phone', errors);
  await phonePage.goto(pageUrl(), { waitUntil: 'domcontentloaded', timeout: STEP_MS });
  await waitForDashboard(phonePage, 'phone', ids);
  await checkNoOverflow(phonePage, 'phone');
  await phonePage.screenshot({ path: join(outDir, 'dashboard-phone.png'), fullPage: true });

  if (errors.length) fail(`errors in the page:\n  ${errors.join('\n  ')}`);
  const kinds = [...new Set(devices.map((d) => d.kind || 'unknown'))].sort().join(', ');
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `dashboard ok: ${ids.length} cards (${kinds}), live, a value changed after ${(changedAfter / 1000).toFixed(1)} s, ` +
      `charts with data, no errors${apiKey ? ', API key via ?token' : ''}; screenshots in ${outDir} (${seconds} s)`,
  );
}

await runInBrowser('dashboard check', run, TOTAL_BUDGET_MS);
