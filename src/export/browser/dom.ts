// Small DOM helpers of the demo page.

/** The element with this id; the page's HTML (web_page.ts) defines every id asked for. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e as T;
}

/** A 2-D context; every canvas of the page has one. */
export function ctx2d(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const c = canvas.getContext('2d');
  if (!c) throw new Error('no 2-D canvas context');
  return c;
}

export const esc = (t: unknown): string => String(t).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');

export const fmtBytes = (b: number): string => (b >= 1048576 ? (b / 1048576).toFixed(2) + ' MB' : (b / 1024).toFixed(1) + ' kB');

/** Paints values in [0, 1] (row-major, W×H) as grey pixels. */
export function paintGray(canvas: HTMLCanvasElement, x: ArrayLike<number>, W: number, H: number): void {
  const c = ctx2d(canvas), img = c.createImageData(W, H);
  for (let i = 0; i < W * H; i++) {
    const v = Math.max(0, Math.min(255, Math.round(x[i] * 255)));
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
    img.data[4 * i + 3] = 255;
  }
  c.putImageData(img, 0, 0);
}
