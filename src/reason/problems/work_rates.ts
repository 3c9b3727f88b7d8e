// 工程问题 (work and rates): one worker finishes a job in a units of time, the other in b;
// together t = a·b / (a + b). Only pairs with a whole t are listed, so the answer is exact.
// The solution multiplies t/a + t/b = 1 through by m = lcm(a, b) to stay in whole numbers.
import { defineFamily } from './family.js';

interface P { a: number; b: number; t: number }
const gcd = (x: number, y: number): number => (y === 0 ? x : gcd(y, x % y));

export const workRates = defineFamily<P>({
  name: 'work-rates',
  all() {
    const out: P[] = [];
    for (let a = 2; a <= 150; a++)
      for (let b = 2; b <= 150; b++) if ((a * b) % (a + b) === 0) out.push({ a, b, t: (a * b) / (a + b) });
    return out;
  },
  key: (p) => [p.a, p.b],
  values: (p) => [p.t],
  en: [
    (p) => `Anna can paint a fence in ${p.a} hours and Ben can paint it in ${p.b} hours. How many hours does it take them working together?`,
    (p) => `Pipe A fills a tank in ${p.a} minutes and pipe B fills it in ${p.b} minutes. With both pipes open, how many minutes does it take to fill the tank?`,
    (p) => `One machine prints an order in ${p.a} minutes; a second machine needs ${p.b} minutes for the same order. Working at the same time, how many minutes do they need?`,
    (p) => `A team can build a wall in ${p.a} days, and another team can build it in ${p.b} days. If both teams work together, how many days will the wall take?`,
  ],
  zh: [
    (p) => `一项工程，甲队单独做${p.a}天完成，乙队单独做${p.b}天完成。两队合作需要多少天完成？`,
    (p) => `一个水池，单开甲管${p.a}分钟注满，单开乙管${p.b}分钟注满。两管同时打开，几分钟注满？`,
    (p) => `小明单独打完一份文件要${p.a}分钟，小红单独打完要${p.b}分钟。两人合作要几分钟？`,
    (p) => `一堵墙，师傅单独砌需要${p.a}小时，徒弟单独砌需要${p.b}小时。两人一起砌需要几小时？`,
  ],
  first: { en: 'Let t=time together.', zh: '设合作用时t。' },
  steps(p) {
    const m = (p.a * p.b) / gcd(p.a, p.b), u = m / p.a, v = m / p.b;
    return [`t/${p.a}+t/${p.b}=1`, `${u}t+${v}t=${m}`, `${u + v}t=${m}`, `t=${m}/${u + v}=${p.t}`];
  },
});
