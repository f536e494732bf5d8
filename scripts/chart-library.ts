/**
 * Puts the monitor's charting library (uPlot, a dev dependency) into resources/vendor/,
 * where Node-RED serves a package's resources to the editor and the monitor page. Run by
 * the build, so the package carries the library and installs nothing for it.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const VENDOR_DIR = join(__dirname, '..', '..', 'resources', 'vendor');
const FILES = ['uPlot.iife.min.js', 'uPlot.min.css'];

export function copyChartLibrary(): void {
  const from = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  mkdirSync(VENDOR_DIR, { recursive: true });
  for (const f of FILES) copyFileSync(join(from, f), join(VENDOR_DIR, f));
  copyFileSync(join(from, '..', 'LICENSE'), join(VENDOR_DIR, 'uPlot.LICENSE'));
}

if (require.main === module) copyChartLibrary();
