// Escaping for HTML and SVG text and attributes, and the grayscale example image as SVG
// (vector pixels: it scales crisply in the page, in an SVG file and in a screenshot).

/** Escapes text and attribute values (both quote kinds), for HTML and SVG alike. */
export const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/**
 * JSON for a `<script type="application/json">` block: `<` becomes \u003c so no string in
 * the data (a class name, a trace) can close the script element; U+2028/9 likewise.
 */
export const scriptJson = (v: unknown): string =>
  JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

/**
 * The opening of a standalone chart: the <svg> element (W × H, sans-serif at `fontSize`), a white
 * background and the title centred at y = `titleY`. The caller appends the chart and `</svg>`.
 */
export function svgOpen(W: number, H: number, title: string, o: { fontSize?: number; titleY?: number } = {}): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="${o.fontSize ?? 12}">` +
    `<rect width="${W}" height="${H}" fill="white"/>` +
    `<text x="${W / 2}" y="${o.titleY ?? 22}" text-anchor="middle" font-size="15">${esc(title)}</text>`;
}

/**
 * A grayscale image (values in [0, 1], row-major) as SVG rectangles, ink dark on white:
 * 0 → white, 1 → black. Only inked pixels get a rectangle (MNIST-like images are mostly
 * background), so a 28×28 digit is a few hundred elements.
 */
export function grayImageSvg(img: { width: number; height: number; pixels: readonly number[] }, opts: { scale?: number; x?: number; y?: number; title?: string } = {}): string {
  const s = opts.scale ?? 5, w = img.width, h = img.height;
  const rects: string[] = [];
  for (let r = 0; r < h; r++)
    for (let c = 0; c < w; c++) {
      const v = img.pixels[r * w + c];
      if (!(v > 0.02)) continue;
      const g = Math.round(255 * (1 - v));
      rects.push(`<rect x="${c}" y="${r}" width="1.02" height="1.02" fill="rgb(${g},${g},${g})"/>`);
    }
  return `<svg xmlns="http://www.w3.org/2000/svg" x="${opts.x ?? 0}" y="${opts.y ?? 0}" width="${w * s}" height="${h * s}" viewBox="0 0 ${w} ${h}" shape-rendering="crispEdges" class="example-image" role="img">` +
    (opts.title ? `<title>${esc(opts.title)}</title>` : '') +
    `<rect x="0.05" y="0.05" width="${w - 0.1}" height="${h - 0.1}" fill="white" stroke="#999" stroke-width="0.1"/>${rects.join('')}</svg>`;
}
