// What the page defines outside this bundle: `ort`, the global of onnxruntime-web's UMD build
// (ort.wasm.min.js, loaded by its own <script> before ours). Type-only: nothing is bundled.
import type * as ortWeb from 'onnxruntime-web';
import type { DemoState } from './export_page.js';

declare global {
  const ort: typeof ortWeb;
  interface Window {
    /** The test hook (see export_page.ts). */
    distillDemo: DemoState;
  }
}
