// Ages: a parent is k times as old as a child; in n years their ages add up to T.
// x = k·y and (x+n)+(y+n) = T give (k+1)·y = T − 2n. Answer: parent, child.
import { defineFamily } from './family.js';

/** child age y, ratio k, years ahead n. */
interface P { y: number; k: number; n: number }
const T = (p: P) => (p.k + 1) * p.y + 2 * p.n;
const X = (p: P) => p.k * p.y;


export const ages = defineFamily<P>({
  name: 'ages',
  all() {
    const out: P[] = [];
    // A parent at least 18 years older than the child and at most 90 years old keeps it realistic.
    for (let k = 2; k <= 6; k++)
      for (let y = 1; y <= 30; y++)
        if ((k - 1) * y >= 18 && k * y <= 90) for (let n = 1; n <= 12; n++) out.push({ y, k, n });
    return out;
  },
  key: (p) => [p.k, p.n, T(p)],
  values: (p) => [X(p), p.y],
  en: [
    (p) => `A father is ${p.k} times as old as his son. In ${p.n} years the sum of their ages will be ${T(p)}. How old are the father and the son now?`,
    (p) => `Today a mother's age is ${p.k} times her daughter's age. ${p.n} years from now their ages will add up to ${T(p)}. Find the mother's age and the daughter's age now.`,
    (p) => `In ${p.n} years, a father and his daughter will be ${T(p)} years old together. Now the father is ${p.k} times as old as the daughter. How old is each of them now (father first)?`,
    (p) => `The sum of a mother's and her son's ages will be ${T(p)} after ${p.n} years. The mother is now ${p.k} times as old as the son. What are their ages now, mother first?`,
  ],
  zh: [
    (p) => `父亲的年龄是儿子的${p.k}倍，${p.n}年后两人年龄之和是${T(p)}岁。父亲和儿子现在各多少岁？`,
    (p) => `今年妈妈的年龄是女儿的${p.k}倍，再过${p.n}年，两人的年龄和为${T(p)}岁。求妈妈和女儿今年的年龄。`,
    (p) => `${p.n}年后，爸爸和女儿的年龄加起来是${T(p)}岁。现在爸爸的年龄是女儿的${p.k}倍。两人现在各几岁？`,
    (p) => `母亲现在的年龄是儿子的${p.k}倍，${p.n}年后他们的年龄之和为${T(p)}岁。母亲和儿子现在分别多少岁？`,
  ],
  first: { en: 'Let x=parent, y=child.', zh: '设大人x岁，孩子y岁。' },
  steps(p) {
    const t = T(p), k = p.k, n = p.n, rest = t - 2 * n;
    return [
      `x=${k}y`,
      `(x+${n})+(y+${n})=${t}`,
      `${k}y+y=${t}-2*${n}=${rest}`,
      `${k + 1}y=${rest}`,
      `y=${rest}/${k + 1}=${p.y}`,
      `x=${k}*${p.y}=${X(p)}`,
    ];
  },
});
