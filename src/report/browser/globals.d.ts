// What the page defines outside this bundle: `uPlot`, the global of uPlot's IIFE build, inlined
// by render.ts in its own <script> before ours. Type-only: nothing is bundled.
import type UPlot from 'uplot';

declare global {
  const uPlot: typeof UPlot;
  interface Window {
    /** The charts by name (temperature, loss, accuracy): the test hook (see report_page.ts). */
    distillCharts: Record<string, UPlot>;
  }
}
