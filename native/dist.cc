// Data-parallel collectives on libtorch's own c10d: a TCPStore for the rendezvous (rank 0
// hosts it) and a ProcessGroupGloo over TCP for allreduce, broadcast, allgather and barrier.
//
// Why these choices:
//  - Gloo, not hand-rolled sockets: it is what PyTorch's CPU DDP runs, its ring/bcube
//    allreduce leaves every rank with bit-identical results (so replicas never drift), and
//    its per-operation timeout turns a dead or hung peer into an error instead of a hang.
//  - Bucketing: the tensors of one call are flattened into one buffer per dtype, so a
//    step's gradients cost one collective (one latency), not one per parameter — the same
//    idea as DDP's gradient buckets and Gloo's allreduce_coalesced.
//  - Every blocking call takes a final `async` flag. Synchronous calls block the JS thread
//    (the trainer's loop is synchronous anyway) but still end within the group's timeout.
//    Async calls return a Promise; the collective is ENQUEUED on the JS thread (so calls
//    keep their program order on every rank, which collectives require) and only the
//    wait and the copy-back run on libuv's pool. JS must not touch those tensors until the
//    promise settles.
//  - Handles are type-tagged Napi::Externals: an External is never read as a tensor, and the
//    tag refuses Externals made by other addons.
// libtorch was built with Gloo (libtorch_cpu exports ProcessGroupGloo); its header hides the class without this.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/autograd/grad_mode.h>
#include <algorithm>
#include <functional>
#include <memory>
#include "args.h"

namespace {

struct DistBox {
  enum Kind { Store, Group } kind;
  c10::intrusive_ptr<c10d::Store> store;           // both kinds: a group keeps its store alive
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  int groups = 0;                                  // groups made over this store (key prefixes)
  std::vector<at::Tensor> scratch;                 // flat buffers reused by synchronous calls, two per dtype
};

void finalize_box(Napi::Env, DistBox* box) { delete box; }

// Marks our Externals, so an External from anywhere else is refused instead of misread.
constexpr napi_type_tag kDistTag = {0x64697374696c6c00ULL, 0x63313064676c6f6fULL};

Napi::Value new_handle(Napi::Env env, DistBox* box) {
  auto ext = Napi::External<DistBox>::New(env, box, finalize_box);
  ext.TypeTag(&kDistTag);
  return ext;
}

DistBox* box_arg(const Napi::CallbackInfo& info, size_t i, DistBox::Kind kind) {
  const char* what = kind == DistBox::Store ? "a store handle" : "a process group handle";
  if (!info[i].IsExternal() || !info[i].As<Napi::External<DistBox>>().CheckTypeTag(&kDistTag))
    throw ArgError("ERR_ARG", std::string("argument ") + std::to_string(i) + " must be " + what);
  auto* box = info[i].As<Napi::External<DistBox>>().Data();
  if (!box || box->kind != kind) throw ArgError("ERR_ARG", std::string("argument ") + std::to_string(i) + " must be " + what);
  if (kind == DistBox::Store ? !box->store : !box->group) throw ArgError("ERR_DIST_CLOSED", "the process group was destroyed");
  return box;
}

// c10d and Gloo report everything as c10::Error or std::runtime_error; the text tells the kind.
const char* dist_code(std::string m) {
  std::transform(m.begin(), m.end(), m.begin(), ::tolower);
  auto has = [&](const char* s) { return m.find(s) != std::string::npos; };
  if (has("timed out") || has("timeout")) return "ERR_DIST_TIMEOUT";
  if (has("connection closed") || has("connection reset") || has("connection refused") || has("broken pipe") ||
      has("read error") || has("write error") || has("peer"))
    return "ERR_DIST_PEER";
  return "ERR_DIST";
}

// Runs a c10d call, re-raising its failures as ERR_DIST* ArgErrors (kept as they are: our own).
template <typename F>
auto guard(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const ArgError&) {
    throw;
  } catch (const c10::Error& e) {
    std::string m = e.what_without_backtrace();
    throw ArgError(dist_code(m), m);
  } catch (const std::exception& e) {
    throw ArgError(dist_code(e.what()), e.what());
  }
}

constexpr int kSpinMs = 5;  // see wait_work
constexpr int64_t kSpinBytes = 1 << 20;
using Finish = std::function<void()>;                       // blocking part; may run off the JS thread
using Result = std::function<Napi::Value(Napi::Env)>;       // builds the return value on the JS thread

// The blocking part of an async call, on libuv's pool; its error is built on the JS thread.
class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, const char* op, std::string inputs, Finish finish, Result result)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), op_(op), inputs_(std::move(inputs)),
        finish_(std::move(finish)), result_(std::move(result)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      guard(finish_);
    } catch (...) {
      classify_current_exception(code_, message_);
      SetError(message_);
    }
  }
  void OnOK() override { deferred_.Resolve(result_ ? result_(Env()) : Env().Undefined()); }
  void OnError(const Napi::Error&) override { deferred_.Reject(make_js_error(Env(), code_, op_, message_, inputs_)); }

 private:
  Napi::Promise::Deferred deferred_;
  const char* op_;
  std::string inputs_;
  Finish finish_;
  Result result_;
  const char* code_ = "ERR_DIST";
  std::string message_;
};

// Either finishes now (sync) or hands the blocking part to the pool and returns a Promise.
Napi::Value complete(const Napi::CallbackInfo& info, const char* op, const char* const* names, bool async, Finish finish, Result result = nullptr) {
  if (!async) {
    guard(finish);
    return result ? result(info.Env()) : info.Env().Undefined();
  }
  auto* job = new Job(info.Env(), op, describe_call_args(info, names), std::move(finish), std::move(result));
  Napi::Promise p = job->promise();
  job->Queue();  // the worker deletes itself after OnOK/OnError
  return p;
}

bool async_flag(const Napi::CallbackInfo& info, size_t i) { return !arg::absent(info[i]) && arg::boolean(info, i); }

std::chrono::milliseconds timeout_arg(const Napi::CallbackInfo& info, size_t i) {
  int64_t ms = arg::i64(info, i);
  if (ms < 1) throw ArgError("ERR_ARG", "timeout must be at least 1 ms");
  return std::chrono::milliseconds(ms);
}

// The tensors of a call travel as flat buffers, one per dtype and at most kBucketBytes each
// (DDP's bucket_cap_mb = 25): one collective per bucket, and a synchronous call never holds
// more than two buckets' copy of the gradients (a single flat buffer of every gradient was
// 4 bytes per parameter for the life of the group).
constexpr int64_t kBucketBytes = 25 << 20;

struct Bucket {
  std::vector<at::Tensor> members;
  at::Tensor flat;
  c10::intrusive_ptr<c10d::Work> work;
};

// The dtype a tensor travels in: Gloo in libtorch 1.13 has no bfloat16 ("Invalid scalar type"),
// so bfloat16 travels as float32 (exact both ways; a SUM is rounded back once, at the end).
at::ScalarType wire_type(at::ScalarType s) { return s == at::kBFloat16 ? at::kFloat : s; }

// Groups a call's tensors into buckets by wire dtype, each up to kBucketBytes (a larger tensor alone).
std::vector<Bucket> make_buckets(const std::vector<at::Tensor>& tensors) {
  std::vector<Bucket> buckets;
  std::vector<int64_t> bytes;
  for (const auto& t : tensors) {
    if (!t.is_cpu()) throw ArgError("ERR_DEVICE", "the Gloo process group here takes CPU tensors, got " + describe_tensor(t));
    const auto wire = wire_type(t.scalar_type());
    const int64_t size = t.numel() * static_cast<int64_t>(c10::elementSize(wire));
    size_t i = 0;
    while (i < buckets.size() && !(wire_type(buckets[i].members[0].scalar_type()) == wire && bytes[i] + size <= kBucketBytes)) i++;
    if (i == buckets.size()) {
      buckets.push_back(Bucket{{}, {}, {}});
      bytes.push_back(0);
    }
    buckets[i].members.push_back(t);
    bytes[i] += size;
  }
  return buckets;
}

// Fills a bucket's flat buffer: the tensor itself when it is one contiguous tensor of the wire
// dtype (reduced in place), else a copy into `scratch`'s buffer `slot` of its dtype (kept from
// call to call: a fresh 0.5 MB buffer per step cost ~0.2 ms here in page faults alone) or a
// fresh buffer.
void fill(Bucket& b, std::vector<at::Tensor>* scratch, int slot) {
  at::NoGradGuard no_grad;
  const auto wire = wire_type(b.members[0].scalar_type());
  if (b.members.size() == 1 && b.members[0].is_contiguous() && b.members[0].scalar_type() == wire) {
    b.flat = b.members[0];
    return;
  }
  std::vector<at::Tensor> views;
  int64_t total = 0;
  for (const auto& t : b.members) {
    views.push_back(t.reshape({-1}).to(wire));
    total += t.numel();
  }
  at::Tensor* keep = nullptr;
  if (scratch) {
    int seen = 0;
    auto it = std::find_if(scratch->begin(), scratch->end(), [&](const at::Tensor& s) { return s.scalar_type() == wire && seen++ == slot; });
    if (it == scratch->end())  // this dtype's slots up to `slot` (the first call makes slot 0, then 1)
      while (seen <= slot) it = scratch->insert(scratch->end(), at::empty({0}, views[0].options())), seen++;
    keep = &*it;
    if (keep->numel() < total) *keep = at::empty({total}, views[0].options());
  }
  b.flat = keep ? keep->narrow(0, 0, total) : at::empty({total}, views[0].options());
  at::cat_out(b.flat, views);
}

// Waits for a collective: first a short yield-spin, then asleep on Work::wait.
// Why: a rank that falls asleep in every wait pays the wake-up latency of its thread (and,
// in a VM, of its idle vCPU) on every step. Measured on the project's 2-core VM, a 473 KB
// allreduce after 1.2 ms of compute took 1.8 ms with a plain wait and 0.58 ms with the
// spin (0.45 ms when a barrier lines the ranks up first). The spin is bounded, so a long
// wait (a rank still computing a teacher cache) sleeps instead of burning a core.
// A large collective (over kSpinBytes) goes straight to sleep: its transfer takes milliseconds
// anyway, and a spinning thread would take a core from Gloo's own threads (on 2 cores and 2 ranks,
// a 25 MB bucket's spin cost ~5 ms).
void wait_work(const c10::intrusive_ptr<c10d::Work>& work, int64_t bytes = 0) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(bytes <= kSpinBytes ? kSpinMs : 0);
  while (!work->isCompleted() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  work->wait();  // rethrows the collective's error, if any
}

// Writes a finished bucket's result back into the caller's tensors.
void copy_back(Bucket& b) {
  at::NoGradGuard no_grad;  // thread-local: the pool thread needs its own
  if (b.flat.unsafeGetTensorImpl() == b.members[0].unsafeGetTensorImpl()) return;
  int64_t off = 0;
  for (auto& t : b.members) {
    t.copy_(b.flat.narrow(0, off, t.numel()).view(t.sizes()));
    off += t.numel();
  }
}

using Launch = std::function<c10::intrusive_ptr<c10d::Work>(std::vector<at::Tensor>&)>;

// Runs one collective per bucket. Synchronous: inside `finish`, through the group's scratch,
// two buffers per dtype taking turns: bucket i+1 is copied in while bucket i travels (bucket i−1,
// which used the same buffer, has been waited for and copied out by then). Asynchronous: every
// bucket in its own buffer, launched now, and `finish` (on the pool thread) waits for each and
// writes the results back. Figures against the single buffer: docs/scaling.md.
Finish run_buckets(std::vector<at::Tensor> tensors, bool async, std::vector<at::Tensor>* scratch, Launch launch) {
  auto buckets = std::make_shared<std::vector<Bucket>>(make_buckets(tensors));
  const auto start = [launch](Bucket& b) {
    std::vector<at::Tensor> one{b.flat};
    b.work = guard([&] { return launch(one); });
  };
  if (!async)
    return [buckets, scratch, start]() {
      auto& bs = *buckets;
      if (bs.empty()) return;
      fill(bs[0], scratch, 0);
      start(bs[0]);
      for (size_t i = 0; i < bs.size(); i++) {
        if (i + 1 < bs.size()) fill(bs[i + 1], scratch, static_cast<int>((i + 1) % 2));
        wait_work(bs[i].work, bs[i].flat.nbytes());
        copy_back(bs[i]);
        bs[i].work.reset();
        if (i + 1 < bs.size()) start(bs[i + 1]);
      }
    };
  for (auto& b : *buckets) {
    fill(b, nullptr, 0);
    start(b);
  }
  return [buckets]() {
    for (auto& b : *buckets) {
      wait_work(b.work, b.flat.nbytes());
      copy_back(b);
    }
  };
}

#define FN(name) Napi::Value name(const Napi::CallbackInfo& info)

// distStore(host, port, worldSize, isMaster, timeoutMs, async): rank 0 hosts the store and
// waits for every rank to connect; the others retry connecting until the timeout.
FN(distStore) {
  OP_BEGIN("rendezvous", "host", "port", "worldSize", "isMaster", "timeoutMs", "async")
    c10d::TCPStoreOptions o;
    std::string host = arg::str(info, 0);
    int64_t port = arg::i64(info, 1), world = arg::i64(info, 2);
    if (port < 1 || port > 65535) throw ArgError("ERR_ARG", "port must be in 1..65535, got " + std::to_string(port));
    if (world < 1) throw ArgError("ERR_ARG", "world size must be at least 1");
    o.port = static_cast<uint16_t>(port);
    o.isServer = arg::boolean(info, 3);
    o.numWorkers = static_cast<size_t>(world);
    o.waitWorkers = true;
    o.timeout = timeout_arg(info, 4);
    auto out = std::make_shared<c10::intrusive_ptr<c10d::Store>>();
    return complete(info, OP_NAME, OP_ARG_NAMES, async_flag(info, 5),
      [=]() { *out = c10::make_intrusive<c10d::TCPStore>(host, o); },
      [=](Napi::Env env) -> Napi::Value { return new_handle(env, new DistBox{DistBox::Store, *out, {}, 0, {}}); });
  OP_END
}

// distGroup(store, rank, worldSize, timeoutMs, device, async): the Gloo group; its constructor
// is the rendezvous (every rank connects to every other). `device`: "" = this host's name,
// "if:<name>" = that network interface, anything else = a hostname or address to bind.
FN(distGroup) {
  OP_BEGIN("rendezvous", "store", "rank", "worldSize", "timeoutMs", "device", "async")
    DistBox* sbox = box_arg(info, 0, DistBox::Store);
    int64_t rank = arg::i64(info, 1), world = arg::i64(info, 2);
    if (world < 1 || rank < 0 || rank >= world) throw ArgError("ERR_ARG", "need 0 <= rank < worldSize, got rank " + std::to_string(rank) + " of " + std::to_string(world));
    auto timeout = timeout_arg(info, 3);
    std::string dev = arg::str(info, 4);
    // A fresh key prefix per group, so several groups can share one store (the same order on every rank).
    auto store = c10::make_intrusive<c10d::PrefixStore>("group" + std::to_string(sbox->groups++), sbox->store);
    auto base = sbox->store;
    auto out = std::make_shared<c10::intrusive_ptr<c10d::ProcessGroupGloo>>();
    return complete(info, OP_NAME, OP_ARG_NAMES, async_flag(info, 5),
      [=]() {
        auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
        opts->devices.push_back(dev.empty() ? c10d::ProcessGroupGloo::createDefaultDevice()
                                : dev.rfind("if:", 0) == 0 ? c10d::ProcessGroupGloo::createDeviceForInterface(dev.substr(3))
                                : c10d::ProcessGroupGloo::createDeviceForHostname(dev));
        *out = c10::make_intrusive<c10d::ProcessGroupGloo>(store, static_cast<int>(rank), static_cast<int>(world), opts);
      },
      [=](Napi::Env env) -> Napi::Value { return new_handle(env, new DistBox{DistBox::Group, base, *out, 0, {}}); });
  OP_END
}

// distAllreduce(group, tensors, async): in-place SUM over all ranks, one collective per dtype.
FN(distAllreduce) {
  OP_BEGIN("allreduce", "group", "tensors", "async")
    DistBox* box = box_arg(info, 0, DistBox::Group);
    auto pg = box->group;
    const bool async = async_flag(info, 2);
    auto finish = run_buckets(arg::tensor_list(info, 1), async, &box->scratch, [pg](std::vector<at::Tensor>& one) { return pg->allreduce(one); });
    return complete(info, OP_NAME, OP_ARG_NAMES, async, finish);
  OP_END
}

// distBroadcast(group, tensors, src, async): every rank's tensors become rank `src`'s.
FN(distBroadcast) {
  OP_BEGIN("broadcast", "group", "tensors", "src", "async")
    DistBox* box = box_arg(info, 0, DistBox::Group);
    auto pg = box->group;
    const bool async = async_flag(info, 3);
    int64_t src = arg::i64(info, 2);
    if (src < 0 || src >= pg->getSize()) throw ArgError("ERR_ARG", "src must be a rank in 0.." + std::to_string(pg->getSize() - 1));
    c10d::BroadcastOptions o;
    o.rootRank = src;
    auto finish = run_buckets(arg::tensor_list(info, 1), async, &box->scratch, [pg, o](std::vector<at::Tensor>& one) { return pg->broadcast(one, o); });
    return complete(info, OP_NAME, OP_ARG_NAMES, async, finish);
  OP_END
}

// distAllgather(group, output, input, async): output = cat(input of rank 0, …, rank W-1), as
// torch.distributed.all_gather_into_tensor. Gloo in libtorch 1.13 has neither
// _allgather_base nor reduce_scatter ("does not support reduce_scatter"), so this is its
// list allgather with the outputs as W contiguous views of `output`: Gloo gathers into its
// own flat buffer and copies each rank's part into its view.
FN(distAllgather) {
  OP_BEGIN("allgather", "group", "output", "input", "async")
    auto pg = box_arg(info, 0, DistBox::Group)->group;
    at::Tensor output = arg::tensor(info, 1), input = arg::tensor(info, 2);
    const int64_t world = pg->getSize();
    if (!output.is_cpu() || !input.is_cpu()) throw ArgError("ERR_DEVICE", "the Gloo process group here takes CPU tensors, got " + describe_tensor(output) + " and " + describe_tensor(input));
    if (output.scalar_type() != input.scalar_type()) throw ArgError("ERR_DTYPE", "allgather: output and input must have one dtype, got " + describe_tensor(output) + " and " + describe_tensor(input));
    if (!output.is_contiguous()) throw ArgError("ERR_ARG", "allgather: the output must be contiguous");
    if (output.numel() != world * input.numel())
      throw ArgError("ERR_SHAPE", "allgather: the output must hold worldSize (" + std::to_string(world) + ") × the input's " + std::to_string(input.numel()) + " elements, got " + std::to_string(output.numel()));
    at::NoGradGuard no_grad;
    auto in = std::make_shared<std::vector<at::Tensor>>(std::vector<at::Tensor>{input.reshape({-1}).contiguous()});
    auto outs = std::make_shared<std::vector<std::vector<at::Tensor>>>(1);
    auto flat = output.view({-1});
    for (int64_t r = 0; r < world; r++) (*outs)[0].push_back(flat.narrow(0, r * input.numel(), input.numel()));
    auto work = guard([&] { return pg->allgather(*outs, *in); });
    // The lambda keeps the buffers alive until the wait is over.
    return complete(info, OP_NAME, OP_ARG_NAMES, async_flag(info, 3), [work, in, outs]() { wait_work(work); });
  OP_END
}

// distBarrier(group, async): returns once every rank has reached it.
FN(distBarrier) {
  OP_BEGIN("barrier", "group", "async")
    auto pg = box_arg(info, 0, DistBox::Group)->group;
    auto work = guard([&] { return pg->barrier(); });
    return complete(info, OP_NAME, OP_ARG_NAMES, async_flag(info, 1), [work]() { wait_work(work); });
  OP_END
}

// distDestroy(handle): releases the group (joins its threads) or the store now; idempotent.
// An async call still in flight keeps its own reference and finishes first.
FN(distDestroy) {
  OP_BEGIN("dispose", "handle")
    if (!info[0].IsExternal() || !info[0].As<Napi::External<DistBox>>().CheckTypeTag(&kDistTag))
      throw ArgError("ERR_ARG", "argument 0 must be a store or process group handle");
    DistBox* box = info[0].As<Napi::External<DistBox>>().Data();
    guard([&] {
      box->group.reset();
      box->store.reset();
      box->scratch.clear();
    });
    return info.Env().Undefined();
  OP_END
}

}  // namespace

void register_dist(Napi::Env env, Napi::Object exports) {
#define REG(n) exports.Set(#n, Napi::Function::New(env, n, #n))
  REG(distStore); REG(distGroup); REG(distAllreduce); REG(distBroadcast); REG(distBarrier); REG(distAllgather); REG(distDestroy);
#undef REG
}
