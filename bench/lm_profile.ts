// Where the LM training step's time goes, ours against PyTorch, piece by piece: the same
// shapes on both sides (bench:lm's student: d 96, 6 layers, 3 heads, byte vocabulary,
// batch 32 × ~220 tokens), each piece timed forward + backward. Times are the process's
// CPU time per repetition (median of rounds), steadier than wall time on a shared machine.
// Usage: node dist/bench/lm_profile.js [--reps 5] [--rounds 3] [--T 220] [--B 32]
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import * as torch from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';
import { CausalLM, LM_DEFAULTS } from '../src/lm/index.js';
import { RMSNorm } from '../src/nn/index.js';
import { AdamW, clipGradNorm } from '../src/optim/index.js';
import { peerEnv } from './peer.js';

const { values: args } = parseArgs({
  options: { reps: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, T: { type: 'string', default: '220' }, B: { type: 'string', default: '32' } },
});
const reps = Number(args.reps), rounds = Number(args.rounds), B = Number(args.B), T = Number(args.T);
const cfg = { ...LM_DEFAULTS, vocabSize: 260, dim: 96, nLayers: 6, nHeads: 3, nKvHeads: 3, hiddenDim: 160, maxSeqLen: 384 };
const hd = cfg.dim / cfg.nHeads;
torch.setNumThreads(1);

/** Median over rounds of the CPU ms per repetition of fn. */
function time(fn: () => void): number {
  torch.tidy(fn); // warm-up
  const per: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < reps; i++) torch.tidy(fn);
    const c = process.cpuUsage(c0);
    per.push((c.user + c.system) / 1000 / reps);
  }
  return per.sort((a, b) => a - b)[Math.floor(per.length / 2)];
}

const ours: Record<string, number> = {};
torch.manualSeed(0);
const model = new CausalLM(cfg);
const ids = torch.randint(0, cfg.vocabSize, [B, T]);
const target = torch.randint(0, cfg.vocabSize, [B, T]);
const ce = (logits: Tensor) => torch.crossEntropy(logits.reshape([-1, cfg.vocabSize]), target.reshape([-1]));
const opt = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.01 });
ours.step_forward = time(() => void ce(model.call(ids)));
ours.step_forward_backward = time(() => ce(model.call(ids)).backward());
ours.clip = time(() => void clipGradNorm(model.parameters(), 1));
ours.adamw = time(() => opt.step());
// The pieces, inputs requiring grad, backward with a fixed upstream gradient.
const leaf = (shape: number[]) => torch.keep(torch.randn(shape).requiresGrad_());
const q = leaf([B, cfg.nHeads, T, hd]), k = leaf([B, cfg.nHeads, T, hd]), v = leaf([B, cfg.nHeads, T, hd]);
const gq = torch.keep(torch.randn([B, cfg.nHeads, T, hd]));
const cos = torch.keep(torch.randn([T, hd])), sin = torch.keep(torch.randn([T, hd]));
ours.mask_build = time(() => void torch.triu(torch.full([T, T], -Infinity), 1));
ours.attention_core = time(() => {
  const mask = torch.triu(torch.full([T, T], -Infinity), 1);
  const s = torch.matmul(q, k.transpose(2, 3)).mul(1 / Math.sqrt(hd)).add(mask);
  torch.matmul(torch.softmax(s, -1), v).backward(gq);
});
ours.attention_scores_only = time(() => torch.matmul(q, k.transpose(2, 3)).mul(1 / Math.sqrt(hd)).sum().backward());
ours.softmax = time(() => {
  const s = torch.matmul(q, k.transpose(2, 3)).detach().requiresGrad_();
  torch.softmax(s, -1).sum().backward();
});
ours.rope = time(() => {
  const half = hd / 2;
  const rot = torch.cat([q.narrow(3, half, half).neg(), q.narrow(3, 0, half)], 3);
  q.mul(cos).add(rot.mul(sin)).backward(gq);
});
const Hk = 2, Hq = 6; // GQA: expand + reshape (ours) vs repeat_interleave (reference)
const kg = leaf([B, Hk, T, hd]);
const gk = torch.keep(torch.randn([B, Hq, T, hd]));
ours.gqa_repeat = time(() => kg.unsqueeze(2).expand([B, Hk, Hq / Hk, T, hd]).reshape([B, Hq, T, hd]).backward(gk));
const x = leaf([B, T, cfg.dim]);
const gx = torch.keep(torch.randn([B, T, cfg.dim]));
const norm = new RMSNorm(cfg.dim, { eps: 1e-5 });
ours.rmsnorm = time(() => norm.call(x).backward(gx));
const block = model.layers.at(0);
ours.mlp = time(() => block.mlp.call(x).backward(gx));
ours.head_ce = time(() => ce(model.head(x)).backward());
const layerCos = torch.keep(torch.randn([T, hd])), layerSin = torch.keep(torch.randn([T, hd]));
ours.block = time(() => block.call(x, layerCos, layerSin, torch.triu(torch.full([T, T], -Infinity), 1), null, 0).backward(gx));

const py = `
import json, math, time, torch, torch.nn as nn, torch.nn.functional as F, sys
torch.set_num_threads(1)
torch.set_flush_denormal(True)
B, T, reps, rounds = ${B}, ${T}, ${reps}, ${rounds}
c = json.loads(${JSON.stringify(JSON.stringify(cfg))})
hd = c["dim"] // c["nHeads"]
sys.argv = ["x"]
src = open("scripts/lm_torch.py").read().replace('if __name__ == "__main__":', 'if False:')
exec(src)
def tm(fn):
    fn(); per = []
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(reps): fn()
        per.append((time.process_time() - t0) * 1000 / reps)
    return sorted(per)[len(per) // 2]
torch.manual_seed(0)
m = LM(c); ids = torch.randint(0, c["vocabSize"], (B, T)); tgt = torch.randint(0, c["vocabSize"], (B, T))
ce = lambda z: F.cross_entropy(z.reshape(-1, c["vocabSize"]), tgt.reshape(-1))
opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.01)
r = {}
r["step_forward"] = tm(lambda: ce(m(ids)))
r["step_forward_backward"] = tm(lambda: ce(m(ids)).backward())
r["clip"] = tm(lambda: nn.utils.clip_grad_norm_(m.parameters(), 1.0))
r["adamw"] = tm(lambda: opt.step())
leaf = lambda *s: torch.randn(*s).requires_grad_()
q, k, v = leaf(B, c["nHeads"], T, hd), leaf(B, c["nHeads"], T, hd), leaf(B, c["nHeads"], T, hd)
gq = torch.randn(B, c["nHeads"], T, hd); cos, sin = torch.randn(T, hd), torch.randn(T, hd)
r["mask_build"] = tm(lambda: torch.full((T, T), float("-inf")).triu(1))
def att():
    mask = torch.full((T, T), float("-inf")).triu(1)
    (torch.softmax(q @ k.transpose(2, 3) / math.sqrt(hd) + mask, -1) @ v).backward(gq)
r["attention_core"] = tm(att)
r["attention_scores_only"] = tm(lambda: (q @ k.transpose(2, 3) / math.sqrt(hd)).sum().backward())
def sm():
    s = (q @ k.transpose(2, 3)).detach().requires_grad_()
    torch.softmax(s, -1).sum().backward()
r["softmax"] = tm(sm)
def rope():
    rot = torch.cat((-q[..., hd // 2:], q[..., :hd // 2]), -1)
    (q * cos + rot * sin).backward(gq)
r["rope"] = tm(rope)
kg = leaf(B, 2, T, hd); gk = torch.randn(B, 6, T, hd)
r["gqa_repeat"] = tm(lambda: kg.repeat_interleave(3, 1).backward(gk))
x = leaf(B, T, c["dim"]); gx = torch.randn(B, T, c["dim"])
norm = RMSNorm(c["dim"], 1e-5)
r["rmsnorm"] = tm(lambda: norm(x).backward(gx))
blk = m.layers[0]
r["mlp"] = tm(lambda: blk.mlp(x).backward(gx))
r["head_ce"] = tm(lambda: ce(m.lm_head(x)).backward())
lc, ls = torch.randn(T, hd), torch.randn(T, hd)
r["block"] = tm(lambda: blk(x, lc, ls).backward(gx))
print(json.dumps(r))
`;
const theirs = JSON.parse(execFileSync(process.env.DISTILL_PYTHON ?? '/usr/bin/python3', ['-c', py], { encoding: 'utf8', env: peerEnv(1) }).trim().split('\n').pop()!) as Record<string, number>;
console.log(`CPU ms per call (median of ${rounds} rounds × ${reps}), B ${B}, T ${T}, d ${cfg.dim}, 1 thread`);
console.log('piece'.padEnd(24) + 'ours'.padStart(10) + 'torch'.padStart(10) + 'ratio'.padStart(8));
for (const k of Object.keys(ours)) console.log(k.padEnd(24) + ours[k].toFixed(2).padStart(10) + theirs[k].toFixed(2).padStart(10) + (ours[k] / theirs[k]).toFixed(2).padStart(8));
console.log(JSON.stringify({ ours, torch: theirs }));
