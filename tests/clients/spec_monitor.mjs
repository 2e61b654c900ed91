// Runs the spec's HTML monitor page (tests/clients/spec_monitor.html, copied
// verbatim from the WebSocket API spec) in headless Chromium. The page itself
// connects to ws://localhost:8080/api/ws.
//
//   NODE_PATH=/path/to/node_modules node tests/clients/spec_monitor.mjs PATH_TO_HTML
//
// Passes when #co2 shows "<n> ppm" and #temp "<t.t>°C", and both change at
// least once within 15 s; fails on page errors too. The page reads
// `reading.temperature.toFixed(1)`, so the server should simulate sensors
// with temperature and CO₂ only (ARANET__SIMULATOR__SENSORS=aranet4,aranet4).

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { CheckFailed, runInBrowser } from './browser.mjs';

const FIRST_VALUES_MS = 10_000;
const CHANGE_MS = 15_000;
const TOTAL_BUDGET_MS = 40_000;
const CO2 = /^\d+ ppm$/;
const TEMP = /^-?\d+\.\d°C$/;

const htmlPath = process.argv[2];
if (!htmlPath) {
  console.error('usage: node tests/clients/spec_monitor.mjs PATH_TO_HTML');
  process.exit(2);
}
if (!existsSync(htmlPath)) {
  console.error(`spec monitor FAILED: no file ${htmlPath}`);
  process.exit(2);
}
const started = Date.now();


const shown = (page) =>
  page.evaluate(() => ({
    co2: document.getElementById('co2').textContent,
    temp: document.getElementById('temp').textContent,
  }));

const describe = (values) => `#co2 "${values.co2}", #temp "${values.temp}"`;

// Polls until `done(values)` holds, failing with `what` after `timeout` ms.
async function waitFor(page, what, done, timeout, errors) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const values = await shown(page);
    if (errors.length) {
      const hint = /toFixed/.test(errors[0]) ? '; a sensor without temperature? run aranet4 sensors only' : '';
      throw new CheckFailed(`page error: ${errors[0]} (${describe(values)})${hint}`);
    }
    if (done(values)) return values;
    if (Date.now() > deadline) throw new CheckFailed(`${what} within ${timeout / 1000} s: ${describe(values)}`);
    await page.waitForTimeout(100);
  }
}

async function run(browser) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  await page.goto(pathToFileURL(resolve(htmlPath)).href, { waitUntil: 'load' });

  const wellFormed = (v) => CO2.test(v.co2) && TEMP.test(v.temp);
  const first = await waitFor(page, 'no well-formed readings', wellFormed, FIRST_VALUES_MS, errors);

  // Each element must change at least once, and stay well-formed meanwhile.
  const changed = { co2: false, temp: false };
  await waitFor(
    page,
    'values did not both change',
    (v) => {
      if (!CO2.test(v.co2)) throw new CheckFailed(`#co2 shows "${v.co2}", expected /^\\d+ ppm$/`);
      if (!TEMP.test(v.temp)) throw new CheckFailed(`#temp shows "${v.temp}", expected /^-?\\d+\\.\\d°C$/`);
      changed.co2 ||= v.co2 !== first.co2;
      changed.temp ||= v.temp !== first.temp;
      return changed.co2 && changed.temp;
    },
    CHANGE_MS,
    errors,
  );
  const last = await shown(page);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`spec monitor ok: ${describe(first)} changed to ${describe(last)} (${seconds} s)`);
}

await runInBrowser('spec monitor', run, TOTAL_BUDGET_MS);
