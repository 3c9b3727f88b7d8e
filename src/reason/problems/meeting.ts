// 相遇问题 (meeting): two travellers start D km apart and move towards each other at u and v km/h.
// They meet after t = D / (u + v) hours, when the first has covered d = u·t. Answer: t, d.
import { defineFamily } from './family.js';

interface P { u: number; v: number; t: number }
const D = (p: P) => (p.u + p.v) * p.t;

export const meeting = defineFamily<P>({
  name: 'meeting',
  all() {
    const out: P[] = [];
    for (let u = 20; u <= 90; u += 5) for (let v = 20; v <= 90; v += 5) for (let t = 1; t <= 8; t++) out.push({ u, v, t });
    return out;
  },
  key: (p) => [D(p), p.u, p.v],
  values: (p) => [p.t, p.u * p.t],
  en: [
    (p) => `Two towns are ${D(p)} km apart. A car leaves the first town at ${p.u} km/h and a truck leaves the second at ${p.v} km/h, driving towards each other. After how many hours do they meet, and how many km has the car driven by then?`,
    (p) => `Two trains start ${D(p)} km apart and travel towards each other, the first at ${p.u} km/h and the second at ${p.v} km/h. Find the hours until they meet and the distance covered by the first train.`,
    (p) => `A bus at ${p.u} km/h and a van at ${p.v} km/h set off at the same time from two points ${D(p)} km apart, heading towards each other. How many hours until they meet, and how far has the bus gone?`,
  ],
  zh: [
    (p) => `甲乙两地相距${D(p)}千米，一辆轿车从甲地出发，每小时行${p.u}千米，一辆货车同时从乙地出发，每小时行${p.v}千米，两车相向而行。几小时后相遇？相遇时轿车行了多少千米？`,
    (p) => `两列火车从相距${D(p)}千米的两站同时相对开出，第一列每小时行${p.u}千米，第二列每小时行${p.v}千米。经过几小时相遇？相遇时第一列火车行了多少千米？`,
    (p) => `小王和小李从相距${D(p)}千米的两地同时出发相向而行，小王每小时行${p.u}千米，小李每小时行${p.v}千米。几小时后两人相遇？相遇时小王走了多少千米？`,
  ],
  first: { en: 'Let t=hours, d=first distance.', zh: '设t小时相遇，第一位行d千米。' },
  steps(p) {
    const d = D(p), s = p.u + p.v;
    return [`(${p.u}+${p.v})t=${d}`, `${s}t=${d}`, `t=${d}/${s}=${p.t}`, `d=${p.u}*${p.t}=${p.u * p.t}`];
  },
});
