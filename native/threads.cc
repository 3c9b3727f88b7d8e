#include "threads.h"
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <cstdlib>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include "errors.h"

namespace distill {

// Flush-to-zero and denormals-are-zero. Training drives some values (Adam's squared
// gradients, far-tail probabilities) below float32's normal range, and x86 arithmetic on
// such denormals is up to 100x slower: a distillation epoch grew 0.59 → 0.72 s over five
// epochs without this. The flags live in each thread's MXCSR, so they are set on this
// thread and on every intra-op worker (one parallel_for chunk per thread), and again
// whenever the thread count changes. OpenBLAS's own threads (2+ threads) are not reached.
static bool g_flush_denormal = false;
static bool apply_flush_denormal() {
  const bool on = g_flush_denormal;
  const bool ok = at::globalContext().setFlushDenormal(on);
  const int64_t n = at::get_num_threads();
  at::parallel_for(0, n, 1, [on](int64_t, int64_t) { at::globalContext().setFlushDenormal(on); });
  return ok;
}
bool set_flush_denormal(bool on) {
  g_flush_denormal = on;
  return apply_flush_denormal();
}

void set_num_threads(int64_t n) {
  if (n < 1) throw ArgError("ERR_ARG", "thread count must be at least 1");
  at::set_num_threads(static_cast<int>(n));
  // OpenBLAS keeps its own pool, sized to every core, whose idle threads spin: two
  // processes (or a BLAS pool beside libtorch's) then fight for the cores. Size it too,
  // when the loaded BLAS is OpenBLAS (looked up at run time; absent otherwise).
  // libtorch pulls the BLAS in as a dependency of the addon (a local scope), so look in
  // the already-loaded libraries by name too (RTLD_NOLOAD: never loads anything new).
  using SetBlasThreads = void (*)(int);
  auto f = reinterpret_cast<SetBlasThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  for (const char* lib : {"libopenblas.so.0", "libblas.so.3"})
    if (!f) if (void* h = dlopen(lib, RTLD_NOW | RTLD_NOLOAD)) f = reinterpret_cast<SetBlasThreads>(dlsym(h, "openblas_set_num_threads"));
  if (f) f(static_cast<int>(n));
  if (g_flush_denormal) apply_flush_denormal();  // new workers start with clear flags
}

// glibc malloc's defaults make every training step page-fault. Blocks of 128 KiB and more
// get their own mmap (the threshold then grows dynamically, by the history of frees), and
// free memory at the top of a heap is given back to the kernel (trimmed) once it passes
// 128 KiB: each step's temporaries are then fresh pages again, and a first touch of a page
// costs ~1.8 us on this VM. Which sizes stay mmapped depends on the order of the first
// frees, so a process landed in one of two speeds: the engine bench's CNN step took 21 or
// 30 ms at 3,300 or 7,800 faults per step (docs/benchmarks.md). Here: blocks below 32 MiB
// (the most glibc allows) come from the heap, and the heap is never trimmed (-1): ~0 faults
// per step after warm-up. Larger blocks are cached by our CPU allocator (cpu_alloc.cc).
// (Disabling mmap altogether, M_MMAP_MAX 0, also removes the faults of the large blocks,
// but small long-lived blocks then settle inside the freed large ones and the heap kept
// growing for a dozen steps, by 3x its working set in a test.) The cost: memory freed
// below 32 MiB stays with the process. A user who sets glibc's own malloc knobs (or
// DISTILL_MALLOC_DEFAULTS=1) keeps glibc's behaviour.
bool tune_malloc() {
#if defined(__GLIBC__)
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_") || std::getenv("MALLOC_MMAP_MAX_") ||
      std::getenv("DISTILL_MALLOC_DEFAULTS") || (tunables && std::strstr(tunables, "glibc.malloc.")))
    return false;
  const bool ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1;
  return mallopt(M_TRIM_THRESHOLD, -1) == 1 && ok;
#else
  return false;
#endif
}

}  // namespace distill
