// mulberry32: a tiny seeded 32-bit generator for decisions that must not touch libtorch's
// global generator (token sampling, problem draws, fault schedules): each stream is a pure
// function of its seed. Plain JS, no addon: any layer may import this file directly.
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
