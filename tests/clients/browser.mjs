// Headless Debian Chromium through playwright-core, as the CI checks use it.
//
// As root on a machine without internet: no sandbox, and none of Chromium's
// background traffic (its connections would be refused, many at a time).

import { createRequire } from 'node:module';

// ES modules ignore NODE_PATH; a CommonJS require honours it.
const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Starts a headless Chromium; the caller closes it. */
export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** A check that did not hold; reported by its message alone. */
export class CheckFailed extends Error {}

/**
 * Runs `check(browser)` in a fresh browser and reports the outcome as
 * "<label> FAILED: …" with exit code 1; a run longer than `budgetMs` fails.
 */
export async function runInBrowser(label, check, budgetMs) {
  const budget = setTimeout(() => {
    console.error(`${label} FAILED: took longer than ${budgetMs / 1000} s`);
    process.exit(1);
  }, budgetMs);
  let browser;
  try {
    browser = await launchBrowser();
    await check(browser);
  } catch (err) {
    const message = err instanceof CheckFailed ? err.message : err.stack || String(err);
    console.error(`${label} FAILED: ${message}`);
    process.exitCode = 1;
  } finally {
    if (browser) await browser.close();
    clearTimeout(budget);
  }
}
