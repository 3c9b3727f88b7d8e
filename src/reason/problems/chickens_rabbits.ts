// 鸡兔同笼 (chickens and rabbits in one cage): H heads and L legs, chickens have 2 legs and rabbits 4.
// Unique solution: r = (L − 2H) / 2, c = H − r. The id uses H and L, the numbers the question states.
import { defineFamily } from './family.js';

/** c chickens, r rabbits. */
interface P { c: number; r: number }
const H = (p: P) => p.c + p.r;
const L = (p: P) => 2 * p.c + 4 * p.r;

export const chickensRabbits = defineFamily<P>({
  name: 'chickens-rabbits',
  all() {
    const out: P[] = [];
    for (let h = 2; h <= 40; h++) for (let c = 1; c < h; c++) out.push({ c, r: h - c });
    return out;
  },
  key: (p) => [H(p), L(p)],
  values: (p) => [p.c, p.r],
  en: [
    (p) => `A farmer keeps chickens and rabbits. Together they have ${H(p)} heads and ${L(p)} legs. How many chickens and how many rabbits are there?`,
    (p) => `Some chickens and rabbits are in a cage. There are ${L(p)} legs and ${H(p)} heads in total. How many chickens and how many rabbits are in the cage?`,
    (p) => `Chickens and rabbits share a pen: ${H(p)} heads and ${L(p)} feet. Find the number of chickens and the number of rabbits.`,
    (p) => `On a farm the chickens and rabbits have ${L(p)} legs altogether and ${H(p)} heads. How many of each animal are there? Give chickens first, then rabbits.`,
    (p) => `A cage holds ${H(p)} animals, each a chicken or a rabbit, with ${L(p)} legs in all. How many chickens and how many rabbits are there?`,
  ],
  zh: [
    (p) => `今有鸡兔同笼，上有${H(p)}头，下有${L(p)}足。问鸡兔各几何？`,
    (p) => `一个笼子里有鸡和兔，共有${H(p)}个头，${L(p)}条腿。鸡和兔各有多少只？`,
    (p) => `农场里的鸡和兔一共有${L(p)}条腿，${H(p)}个头。鸡有几只？兔有几只？`,
    (p) => `鸡和兔关在一起，数头有${H(p)}个，数脚有${L(p)}只。问鸡、兔各多少只？`,
    (p) => `笼中鸡兔共${H(p)}只，脚共${L(p)}只，求鸡和兔各有几只。`,
  ],
  first: { en: 'Let x=chickens, y=rabbits.', zh: '设鸡x只，兔y只。' },
  steps(p) {
    const h = H(p), l = L(p);
    return [
      `x+y=${h}`,
      `2x+4y=${l}`,
      `2y=${l}-2*${h}=${l}-${2 * h}=${l - 2 * h}`,
      `y=${l - 2 * h}/2=${p.r}`,
      `x=${h}-${p.r}=${p.c}`,
    ];
  },
});
