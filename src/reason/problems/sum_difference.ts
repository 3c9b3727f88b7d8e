// 和差问题 (sum and difference): two quantities add up to S and differ by D.
// x = (S + D) / 2, y = S − x. Answer: larger, smaller.
import { defineFamily } from './family.js';

/** larger a, smaller b. */
interface P { a: number; b: number }
const S = (p: P) => p.a + p.b;
const D = (p: P) => p.a - p.b;

export const sumDifference = defineFamily<P>({
  name: 'sum-difference',
  all() {
    const out: P[] = [];
    for (let a = 2; a <= 99; a++) for (let b = 1; b < a && a + b <= 100; b++) out.push({ a, b });
    return out;
  },
  key: (p) => [S(p), D(p)],
  values: (p) => [p.a, p.b],
  en: [
    (p) => `Two boxes hold ${S(p)} apples in total. The first box has ${D(p)} more apples than the second. How many apples are in each box?`,
    (p) => `Two numbers add up to ${S(p)} and their difference is ${D(p)}. Find the larger number and the smaller number.`,
    (p) => `A ribbon ${S(p)} cm long is cut into two pieces. One piece is ${D(p)} cm longer than the other. How long is each piece, longer piece first?`,
    (p) => `Class A and class B have ${S(p)} students together, and class A has ${D(p)} more students than class B. How many students are in class A and in class B?`,
  ],
  zh: [
    (p) => `两个箱子里共有${S(p)}个苹果，第一箱比第二箱多${D(p)}个。每箱各有多少个苹果？`,
    (p) => `两个数的和是${S(p)}，差是${D(p)}。求较大的数和较小的数。`,
    (p) => `一根${S(p)}厘米长的彩带剪成两段，一段比另一段长${D(p)}厘米。长的一段和短的一段各长多少厘米？`,
    (p) => `甲、乙两班共有${S(p)}名学生，甲班比乙班多${D(p)}人。甲班和乙班各有多少人？`,
  ],
  first: { en: 'Let x=larger, y=smaller.', zh: '设大数x，小数y。' },
  steps(p) {
    const s = S(p), d = D(p);
    return [`x+y=${s}`, `x-y=${d}`, `2x=${s}+${d}=${s + d}`, `x=${s + d}/2=${p.a}`, `y=${s}-${p.a}=${p.b}`];
  },
});
