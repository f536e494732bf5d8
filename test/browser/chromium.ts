/**
 * Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by
 * playwright-core (which downloads no browser of its own).
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

/** Starts Chromium; rejects with what to install when it is missing, or why it did not start. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: these browser tests need Debian's Chromium. Install it with ` +
        '`sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium` (.ci/run does this on CI).',
    );
  }
  try {
    return await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 30_000 });
  } catch (err) {
    throw new Error(`${CHROMIUM} did not start: ${String(err)}`);
  }
}
