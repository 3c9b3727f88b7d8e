// What the page defines outside this bundle: `uPlot`, the global of uPlot's IIFE build, inlined
// by page.ts in its own <script> before ours. Type-only: nothing is bundled.
import type UPlot from 'uplot';

declare global {
  const uPlot: typeof UPlot;
}
