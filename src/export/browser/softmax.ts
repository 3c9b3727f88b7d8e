/** softmax(z / T), shifted by the max for stability. */
export function softmax(z: readonly number[], T: number): number[] {
  let m = -Infinity;
  for (const v of z) m = Math.max(m, v / T);
  const out = z.map((v) => Math.exp(v / T - m));
  const s = out.reduce((a, b) => a + b, 0);
  return out.map((v) => v / s);
}
