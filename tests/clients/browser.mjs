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
