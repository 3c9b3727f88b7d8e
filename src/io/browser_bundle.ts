// The browser code's bundles: scripts/build-browser.mjs (run by `npm run build`) type-checks
// src/*/browser/ against the DOM and bundles each page's entry with esbuild into
// dist/browser/<name>.js; the page writers (export/web_page.ts, serve/page.ts, report/render.ts) inline them.
// Node built-ins only (and the error classes): the dashboard must not load libtorch.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DistillError } from '../torch/errors.js';

/** dist/browser/: this file runs as dist/src/io/browser_bundle.js, in the repository and in the package. */
export const BROWSER_DIR = fileURLToPath(new URL('../../browser/', import.meta.url));

/** The bundles scripts/build-browser.mjs writes. */
export type BrowserBundle = 'export-page' | 'dashboard' | 'report-page';

/**
 * The text of dist/browser/<name>.js, ready to sit inside an inline <script> (a `</script`
 * in it would close the element early; the bundles have none, but the escape makes sure).
 * A missing bundle is an ERR_NOT_BUILT error that names the fix.
 */
export function readBrowserBundle(name: BrowserBundle, dir: string = BROWSER_DIR): string {
  const path = join(dir, `${name}.js`);
  let js: string;
  try {
    js = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    throw new DistillError('ERR_NOT_BUILT', `the browser bundle ${path} is missing; run \`npm run build\` (it bundles src/*/browser/ with esbuild)`);
  }
  return js.replace(/<\/script/gi, '<\\/script');
}
