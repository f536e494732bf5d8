/**
 * What the browser tests share: Debian's Chromium (/usr/bin/chromium) started headless
 * through playwright-core, and a folder for their screenshots (test-artifacts/, git-ignored).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { PROJECT_ROOT } from '../../tools/nodered';

export const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

/** Throws, saying how to install it, when Debian's Chromium is not there. */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: these browser tests need Debian's Chromium. Install it with ` +
        '`sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium` (.ci/run does this on CI).',
    );
  }
}

/** Starts Chromium headless; rejects with a message that names it when it does not start. */
export async function launchChromium(): Promise<Browser> {
  try {
    return await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 30_000 });
  } catch (err) {
    throw new Error(`${CHROMIUM} did not start: ${String(err)}`);
  }
}

/** Where a test file keeps its screenshots: test-artifacts/<folder>/ in the project. */
export function artifactsDir(folder: string): string {
  const dir = join(PROJECT_ROOT, 'test-artifacts', folder);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A screenshot of the whole page as `<dir>/<name>.png`; logs where, or why there is none. */
export async function screenshot(page: Page, dir: string, name: string): Promise<void> {
  const file = join(dir, `${name.match(/[\w-]+/g)?.join('-').slice(0, 80) ?? 'page'}.png`);
  await page.screenshot({ path: file, fullPage: true }).then(
    () => console.log(`      screenshot: ${file}`),
    (err: unknown) => console.log(`      no screenshot: ${String(err)}`),
  );
}
