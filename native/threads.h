// Threads: libtorch's intra-op pool, OpenBLAS's own pool, and the denormal flags that
// live in each of those threads. Bound through the op table (setNumThreads, setFlushDenormal).
#pragma once
#include <cstdint>

namespace distill {

// Sets libtorch's intra-op threads and, when the loaded BLAS is OpenBLAS, its pool too.
void set_num_threads(int64_t n);

// Flush denormals to zero (FTZ/DAZ) on this thread and every intra-op worker; returns
// whether the CPU supports it.
bool set_flush_denormal(bool on);

// Keeps training steps off the page-fault path (glibc: blocks up to 32 MiB from the heap,
// no heap trimming) unless the user set glibc's malloc knobs; called once when the addon
// loads. Returns whether it changed anything.
bool tune_malloc();

// Installs libtorch's CPU allocator with a cache of large (≥ 32 MiB) blocks (cpu_alloc.cc);
// called once when the addon loads. Returns whether it did (DISTILL_CPU_CACHE_MB=0 or
// DISTILL_MALLOC_DEFAULTS=1 keep libtorch's own).
bool install_cpu_allocator();

}  // namespace distill
