// The environment of a PyTorch peer process, so that "the same threads" holds on both
// sides: our setNumThreads also sizes OpenBLAS's own pool, torch.set_num_threads does not,
// so a "1-thread" PyTorch would still run its matrix products on every core (it made the
// MLP step look 1.3x faster than ours at 1 thread). OpenBLAS reads this when it loads.
export function peerEnv(threads: number): NodeJS.ProcessEnv {
  return { ...process.env, OPENBLAS_NUM_THREADS: String(threads) };
}
