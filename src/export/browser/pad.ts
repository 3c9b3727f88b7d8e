// The drawing pad: ink → bounding box scaled into 20×20 → centred by mass in 28×28 (MNIST's
// recipe, for a W×H input: the box is min(W, H)·20/28).
import { byId, ctx2d } from './dom.js';

/** The pad's drawing as the model's input (W×H values in [0, 1]). */
function downsample(pad: HTMLCanvasElement, W: number, H: number): Float32Array {
  const src = ctx2d(pad).getImageData(0, 0, pad.width, pad.height).data;
  let x0 = pad.width, y0 = pad.height, x1 = -1, y1 = -1;
  for (let y = 0; y < pad.height; y++) for (let x = 0; x < pad.width; x++) if (src[4 * (y * pad.width + x)] > 20) {
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  const out = new Float32Array(W * H);
  if (x1 < 0) return out;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1, box = Math.round(Math.min(W, H) * 20 / 28), s = box / Math.max(bw, bh);
  const tmp = document.createElement('canvas');
  tmp.width = W; tmp.height = H;
  const t = ctx2d(tmp);
  t.imageSmoothingEnabled = true; t.imageSmoothingQuality = 'high';
  const dw = bw * s, dh = bh * s;
  t.fillStyle = '#000'; t.fillRect(0, 0, W, H);
  t.drawImage(pad, x0, y0, bw, bh, (W - dw) / 2, (H - dh) / 2, dw, dh);
  // Centre of mass (cx, cy) moved to the centre by a whole-pixel shift (sx, sy).
  const g = t.getImageData(0, 0, W, H).data;
  let m = 0, cx = 0, cy = 0;
  for (let i = 0; i < W * H; i++) { const v = g[4 * i] / 255; m += v; cx += v * (i % W); cy += v * Math.floor(i / W); }
  const sx = m ? Math.round((W - 1) / 2 - cx / m) : 0, sy = m ? Math.round((H - 1) / 2 - cy / m) : 0;
  for (let yy = 0; yy < H; yy++) for (let xx = 0; xx < W; xx++) {
    const fx = xx - sx, fy = yy - sy;
    out[yy * W + xx] = fx >= 0 && fx < W && fy >= 0 && fy < H ? g[4 * (fy * W + fx)] / 255 : 0;
  }
  return out;
}

/**
 * Wires #pad and #clear; `onInput` gets the downsampled drawing at most once per animation
 * frame while drawing, and once more at the end of a stroke. Returns a function that clears
 * the pad (without calling onInput).
 */
export function setupPad(W: number, H: number, onInput: (x: Float32Array) => void): () => void {
  const pad = byId<HTMLCanvasElement>('pad'), c = ctx2d(pad);
  let drawing = false, last: [number, number] = [0, 0], pending = false;
  const clear = () => { c.fillStyle = '#000'; c.fillRect(0, 0, pad.width, pad.height); };
  clear();
  const pos = (e: PointerEvent): [number, number] => {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
  };
  const update = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      onInput(downsample(pad, W, H));
    });
  };
  pad.addEventListener('pointerdown', (e) => { drawing = true; last = pos(e); pad.setPointerCapture(e.pointerId); });
  pad.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    const p = pos(e);
    c.strokeStyle = '#fff'; c.lineWidth = pad.width / 10; c.lineCap = 'round'; c.lineJoin = 'round';
    c.beginPath(); c.moveTo(last[0], last[1]); c.lineTo(p[0], p[1]); c.stroke();
    last = p;
    update();
  });
  const stop = () => { if (drawing) { drawing = false; update(); } };
  pad.addEventListener('pointerup', stop);
  pad.addEventListener('pointercancel', stop);
  byId('clear').addEventListener('click', () => { clear(); update(); });
  return clear;
}
