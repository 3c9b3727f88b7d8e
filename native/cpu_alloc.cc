#include "threads.h"
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <sys/mman.h>
#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace distill {

// libtorch's CPU allocator with a cache of large blocks, as PyTorch's CUDA caching allocator
// but for the CPU. A training step allocates the same large tensors every step (logits,
// the embedding's gradient, AdamW's temporaries over it: 100+ MB each for a real model).
// glibc serves blocks of 32 MiB and more (the most its mmap threshold allows) with a fresh
// mmap and unmaps them on free, so every step faults those pages in again: ~1.8 us per 4 KiB
// page on this VM, 139,000 faults in a SmolLM2-135M step. Here a freed large block is kept
// and handed to the next request of the same rounded size; smaller blocks go to libtorch's
// own alloc_cpu (glibc, tuned in threads.cc). Large blocks are advised as transparent huge
// pages, so even their first touch faults 512x less often.
// Cached (free) bytes are capped (DISTILL_CPU_CACHE_MB, default 4096; 0 turns the cache off):
// a block freed beyond the cap is unmapped. Blocks outlive nothing: the state is never
// destroyed, so tensors freed during process exit still find it.
namespace {

constexpr size_t kLarge = size_t(32) << 20;  // glibc's mmap threshold, as set in threads.cc
constexpr size_t kGrain = size_t(2) << 20;   // sizes round up to 2 MiB (≤ 6% waste), THP-sized

struct State {
  std::mutex mu;
  std::unordered_map<void*, size_t> live;            // large blocks in use → their size
  std::multimap<size_t, void*> cached;               // free large blocks by size
  size_t cached_bytes = 0;
  size_t cap = size_t(4096) << 20;
};
State& state() {
  static State* s = new State();  // never destroyed (see above)
  return *s;
}

void* map_block(size_t size) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
#ifdef MADV_HUGEPAGE
  madvise(p, size, MADV_HUGEPAGE);
#endif
  return p;
}

void release(void* p) {
  State& s = state();
  size_t size = 0;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.live.find(p);
    if (it == s.live.end()) {
      c10::free_cpu(p);  // a small block: glibc's
      return;
    }
    size = it->second;
    s.live.erase(it);
    if (s.cached_bytes + size <= s.cap) {
      s.cached.emplace(size, p);
      s.cached_bytes += size;
      return;
    }
  }
  munmap(p, size);
}

class CachingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const override {
    void* p = n < kLarge ? c10::alloc_cpu(n) : large(n);
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

 private:
  static void* large(size_t n) {
    const size_t size = (n + kGrain - 1) / kGrain * kGrain;
    State& s = state();
    {
      std::lock_guard<std::mutex> lock(s.mu);
      auto it = s.cached.find(size);
      if (it != s.cached.end()) {
        void* p = it->second;
        s.cached.erase(it);
        s.cached_bytes -= size;
        s.live.emplace(p, size);
        return p;
      }
    }
    void* p = map_block(size);
    if (!p) {
      // Out of address space or memory: give back every cached block and try once more.
      std::vector<std::pair<size_t, void*>> drop;
      {
        std::lock_guard<std::mutex> lock(s.mu);
        drop.assign(s.cached.begin(), s.cached.end());
        s.cached.clear();
        s.cached_bytes = 0;
      }
      for (auto& [sz, q] : drop) munmap(q, sz);
      p = map_block(size);
      // Still nothing: libtorch's allocator raises its usual error (ERR_OOM); should it
      // succeed after all, the block is glibc's and release() hands it back to glibc.
      if (!p) return c10::alloc_cpu(n);
    }
    std::lock_guard<std::mutex> lock(s.mu);
    s.live.emplace(p, size);
    return p;
  }
};

}  // namespace

bool install_cpu_allocator() {
  const char* env = std::getenv("DISTILL_CPU_CACHE_MB");
  const long mb = env ? std::strtol(env, nullptr, 10) : 4096;
  if (mb <= 0 || std::getenv("DISTILL_MALLOC_DEFAULTS")) return false;
  state().cap = size_t(mb) << 20;
  static CachingCpuAllocator alloc;
  c10::SetCPUAllocator(&alloc, /*priority=*/1);
  return true;
}

}  // namespace distill
