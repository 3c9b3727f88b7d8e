// The single table of bound libtorch ops. scripts/gen-ops.mjs turns it into the C++
// glue (native/ops_generated.cc) and the TS wrappers (src/torch/ops_generated.ts).
// Add an op by adding one line here. Hand-written in native/addon.cc stay only what the
// table cannot express: copying data in and out (fromBytes, toBytes, item), backward,
// disposal, and process facts that return objects (memory counters, build info).
//
// Entry: [jsName, "signature", returns, "C++ expression", flags, publicName]
// Argument kinds:
//   T tensor · T? optional tensor · TS tensor or number (Python-scalar promotion) · TL tensor list
//   S number as at::Scalar · f double · f? optional double · i int64 · i? optional int64
//   il int list (a number counts as one) · il? optional int list · b bool · s string
//   dt dtype · red reduction ('none'|'mean'|'sum') · dev device string
// Returns: T tensor · T? tensor or null · T2 pair of tensors · TL tensor list
//   self (in-place; JS gets `self` back) · f number · i integer · il int list · b boolean
//   s string · s? string or null · void
// Flags: m = also a Tensor method (first argument is `this`);
//   n = native only, no TS wrapper (the Tensor class calls it on its handle).
// publicName: the op that errors name; defaults to jsName without a trailing "Raw"
// (crossEntropyRaw → crossEntropy, the function users call).
// Defaults after '=' are TS expressions.

export const ops = [
  // ── metadata, autograd state, RNG, grad mode, threads (used by tensor.ts, autograd.ts, runtime.ts) ──
  ['shape', 'T self', 'il', 'self.sizes().vec()', 'n'],
  ['dtype', 'T self', 'i', 'static_cast<int64_t>(self.scalar_type())', 'n'],
  ['device', 'T self', 's', 'self.device().str()', 'n'],
  ['requiresGrad', 'T self', 'b', 'self.requires_grad()', 'n'],
  ['setRequiresGrad', 'T self, b requiresGrad', 'self', 'distill::set_requires_grad(self, requiresGrad)', 'n', 'requiresGrad_'],
  ['grad', 'T self', 'T?', 'self.grad()', 'n'],
  ['setGrad', 'T self, T? grad', 'void', 'distill::set_grad(self, grad)', 'n', 'grad'],
  // `param.data = src` (libtorch set_data): the same tensor object now holds src's storage, dtype and
  // shape; Module.to(dtype) converts parameters in place with it, so optimizers and ties keep their references.
  // recount_box: memory() now counts the new storage's bytes for this handle, not the old one's.
  ['setData', 'T self, T src', 'void', '(self.set_data(src), recount_box(info[0]))', 'n', 'data'],
  // Fills a contiguous tensor from an open file at a byte offset (pread): the weight loaders' one-copy path.
  ['readInto', 'T self, i fd, i offset', 'self', 'distill::read_file_into(self, fd, offset)', 'n'],
  ['detach', 'T self', 'T', 'self.detach()', 'n'],
  ['isLeaf', 'T self', 'b', 'self.is_leaf()', 'n'],
  ['gradFn', 'T self', 's?', 'distill::grad_fn_name(self)', 'n'],
  ['isGradEnabled', '', 'b', 'at::GradMode::is_enabled()', 'n'],
  ['setGradEnabled', 'b enabled', 'void', 'at::GradMode::set_enabled(enabled)', 'n'],
  ['manualSeed', 'i seed', 'void', 'distill::manual_seed(seed)', 'n'],
  // Autocast (mixed precision) for one device, 'cpu' or 'cuda': libtorch's thread-local
  // at::autocast state, the one torch.autocast sets (src/torch/autocast.ts scopes it).
  ['autocastSetEnabled', "b on, s device='cpu'", 'void', 'distill::autocast_set_enabled(device, on)', 'n'],
  ['autocastIsEnabled', "s device='cpu'", 'b', 'distill::autocast_is_enabled(device)', 'n'],
  ['autocastSetDtype', "dt dtype, s device='cpu'", 'void', 'distill::autocast_set_dtype(device, dtype)', 'n'],
  ['autocastGetDtype', "s device='cpu'", 'i', 'static_cast<int64_t>(distill::autocast_get_dtype(device))', 'n'],
  ['autocastIncrementNesting', '', 'i', 'at::autocast::increment_nesting()', 'n'],
  ['autocastDecrementNesting', '', 'i', 'at::autocast::decrement_nesting()', 'n'],
  ['autocastClearCache', '', 'void', 'at::autocast::clear_cache()', 'n'],
  ['getRngState', '', 'T', 'distill::get_rng_state()', 'n'],
  ['setRngState', 'T state', 'void', 'distill::set_rng_state(state)', 'n'],
  ['getNumThreads', '', 'i', 'at::get_num_threads()', 'n'],
  ['setNumThreads', 'i n', 'void', 'distill::set_num_threads(n)', 'n'],
  ['setFlushDenormal', 'b on', 'b', 'distill::set_flush_denormal(on)', 'n'],

  // ── creation ──
  ['zeros', "il size, dt dtype='float32'", 'T', 'at::zeros(size, at::TensorOptions().dtype(dtype))'],
  ['ones', "il size, dt dtype='float32'", 'T', 'at::ones(size, at::TensorOptions().dtype(dtype))'],
  ['empty', "il size, dt dtype='float32'", 'T', 'at::empty(size, at::TensorOptions().dtype(dtype))'],
  ['full', "il size, S fillValue, dt dtype='float32'", 'T', 'at::full(size, fillValue, at::TensorOptions().dtype(dtype))'],
  ['arangeRaw', 'S start, S end, S step, dt dtype', 'T', 'at::arange(start, end, step, at::TensorOptions().dtype(dtype))'],
  ['linspace', "S start, S end, i steps, dt dtype='float32'", 'T', 'at::linspace(start, end, steps, at::TensorOptions().dtype(dtype))'],
  ['eye', "i n, i? m=null, dt dtype='float32'", 'T', 'at::eye(n, m ? *m : n, at::TensorOptions().dtype(dtype))'],
  ['rand', "il size, dt dtype='float32'", 'T', 'at::rand(size, at::TensorOptions().dtype(dtype))'],
  ['randn', "il size, dt dtype='float32'", 'T', 'at::randn(size, at::TensorOptions().dtype(dtype))'],
  ['randint', "i low, i high, il size, dt dtype='int64'", 'T', 'at::randint(low, high, size, at::TensorOptions().dtype(dtype))'],
  ['randperm', "i n, dt dtype='int64'", 'T', 'at::randperm(n, at::TensorOptions().dtype(dtype))'],
  ['multinomial', 'T self, i numSamples, b replacement=false', 'T', 'at::multinomial(self, numSamples, replacement)', 'm'],
  ['zerosLike', 'T self', 'T', 'at::zeros_like(self)', 'm'],
  ['onesLike', 'T self', 'T', 'at::ones_like(self)', 'm'],
  ['randnLike', 'T self', 'T', 'at::randn_like(self)', 'm'],
  ['toDtype', 'T self, dt dtype', 'T', 'self.to(dtype)', 'm'],
  ['toDevice', 'T self, dev device', 'T', 'self.to(device)', 'm'],
  ['clone', 'T self', 'T', 'self.clone()', 'm'],

  // ── pointwise math ──
  ['add', 'T self, TS other, S alpha=1', 'T', 'at::add(self, other, alpha)', 'm'],
  ['sub', 'T self, TS other, S alpha=1', 'T', 'at::sub(self, other, alpha)', 'm'],
  ['mul', 'T self, TS other', 'T', 'at::mul(self, other)', 'm'],
  ['div', 'T self, TS other', 'T', 'at::div(self, other)', 'm'],
  // A number exponent takes pow(Tensor, Scalar), as Python's x.pow(2) does: its kernel has the
  // square/sqrt/reciprocal fast paths (x·x exactly), where the tensor-exponent kernel calls powf.
  ['pow', 'T self, TS exponent', 'T', 'exponent.unsafeGetTensorImpl()->is_wrapped_number() ? at::pow(self, exponent.item()) : at::pow(self, exponent)', 'm'],
  ['neg', 'T self', 'T', 'at::neg(self)', 'm'],
  ['reciprocal', 'T self', 'T', 'at::reciprocal(self)', 'm'],
  ['sqrt', 'T self', 'T', 'at::sqrt(self)', 'm'],
  ['rsqrt', 'T self', 'T', 'at::rsqrt(self)', 'm'],
  ['exp', 'T self', 'T', 'at::exp(self)', 'm'],
  ['log', 'T self', 'T', 'at::log(self)', 'm'],
  ['log1p', 'T self', 'T', 'at::log1p(self)', 'm'],
  ['abs', 'T self', 'T', 'at::abs(self)', 'm'],
  ['sign', 'T self', 'T', 'at::sign(self)', 'm'],
  ['sin', 'T self', 'T', 'at::sin(self)', 'm'],
  ['cos', 'T self', 'T', 'at::cos(self)', 'm'],
  ['floor', 'T self', 'T', 'at::floor(self)', 'm'],
  ['round', 'T self', 'T', 'at::round(self)', 'm'],
  ['clamp', 'T self, S? min=null, S? max=null', 'T', 'at::clamp(self, min, max)', 'm'],
  ['minimum', 'T self, T other', 'T', 'at::minimum(self, other)', 'm'],
  ['maximum', 'T self, T other', 'T', 'at::maximum(self, other)', 'm'],
  ['isnan', 'T self', 'T', 'at::isnan(self)', 'm'],
  ['isfinite', 'T self', 'T', 'at::isfinite(self)', 'm'],

  // ── comparisons and selection ──
  ['eq', 'T self, TS other', 'T', 'at::eq(self, other)', 'm'],
  ['ne', 'T self, TS other', 'T', 'at::ne(self, other)', 'm'],
  ['lt', 'T self, TS other', 'T', 'at::lt(self, other)', 'm'],
  ['le', 'T self, TS other', 'T', 'at::le(self, other)', 'm'],
  ['gt', 'T self, TS other', 'T', 'at::gt(self, other)', 'm'],
  ['ge', 'T self, TS other', 'T', 'at::ge(self, other)', 'm'],
  ['logicalNot', 'T self', 'T', 'at::logical_not(self)', 'm'],
  ['logicalAnd', 'T self, T other', 'T', 'at::logical_and(self, other)', 'm'],
  ['logicalOr', 'T self, T other', 'T', 'at::logical_or(self, other)', 'm'],
  ['where', 'T condition, TS self, TS other', 'T', 'at::where(condition, self, other)'],
  ['any', 'T self', 'T', 'at::any(self)', 'm'],
  ['all', 'T self', 'T', 'at::all(self)', 'm'],

  // ── reductions ──
  ['sum', 'T self, il? dim=null, b keepdim=false', 'T', 'at::sum(self, dim ? at::OptionalIntArrayRef(*dim) : at::OptionalIntArrayRef(), keepdim)', 'm'],
  ['mean', 'T self, il? dim=null, b keepdim=false', 'T', 'at::mean(self, dim ? at::OptionalIntArrayRef(*dim) : at::OptionalIntArrayRef(), keepdim)', 'm'],
  ['amax', 'T self, il dim, b keepdim=false', 'T', 'at::amax(self, dim, keepdim)', 'm'],
  ['amin', 'T self, il dim, b keepdim=false', 'T', 'at::amin(self, dim, keepdim)', 'm'],
  ['maxAll', 'T self', 'T', 'at::max(self)', '', 'max'],
  ['minAll', 'T self', 'T', 'at::min(self)', '', 'min'],
  ['maxDim', 'T self, i dim, b keepdim=false', 'T2', 'at::max(self, dim, keepdim)', '', 'max'],
  ['minDim', 'T self, i dim, b keepdim=false', 'T2', 'at::min(self, dim, keepdim)', '', 'min'],
  ['argmax', 'T self, i? dim=null, b keepdim=false', 'T', 'at::argmax(self, dim, keepdim)', 'm'],
  ['argmin', 'T self, i? dim=null, b keepdim=false', 'T', 'at::argmin(self, dim, keepdim)', 'm'],
  ['logsumexp', 'T self, il dim, b keepdim=false', 'T', 'at::logsumexp(self, dim, keepdim)', 'm'],
  ['variance', 'T self, il? dim=null, i correction=1, b keepdim=false', 'T', 'at::var(self, dim ? at::OptionalIntArrayRef(*dim) : at::OptionalIntArrayRef(), correction, keepdim)'],
  ['std', 'T self, il? dim=null, i correction=1, b keepdim=false', 'T', 'at::std(self, dim ? at::OptionalIntArrayRef(*dim) : at::OptionalIntArrayRef(), correction, keepdim)', 'm'],
  ['norm', 'T self, f p=2', 'T', 'at::norm(self, at::Scalar(p))', 'm'],
  ['cumsum', 'T self, i dim', 'T', 'at::cumsum(self, dim)', 'm'],
  ['topk', 'T self, i k, i dim=-1, b largest=true, b sorted=true', 'T2', 'at::topk(self, k, dim, largest, sorted)'],
  ['sort', 'T self, i dim=-1, b descending=false', 'T2', 'at::sort(self, dim, descending)'],
  ['argsort', 'T self, i dim=-1, b descending=false', 'T', 'at::argsort(self, dim, descending)', 'm'],

  // ── shape and indexing ──
  ['reshape', 'T self, il shape', 'T', 'at::reshape(self, shape)', 'm'],
  ['view', 'T self, il shape', 'T', 'self.view(shape)', 'm'],
  ['permute', 'T self, il dims', 'T', 'self.permute(dims)', 'm'],
  ['transpose', 'T self, i dim0, i dim1', 'T', 'at::transpose(self, dim0, dim1)', 'm'],
  ['contiguous', 'T self', 'T', 'self.contiguous()', 'm'],
  ['squeeze', 'T self, i? dim=null', 'T', 'dim ? at::squeeze(self, *dim) : at::squeeze(self)', 'm'],
  ['unsqueeze', 'T self, i dim', 'T', 'at::unsqueeze(self, dim)', 'm'],
  ['expand', 'T self, il size', 'T', 'self.expand(size)', 'm'],
  ['flatten', 'T self, i startDim=0, i endDim=-1', 'T', 'at::flatten(self, startDim, endDim)', 'm'],
  ['flip', 'T self, il dims', 'T', 'at::flip(self, dims)', 'm'],
  ['repeat', 'T self, il repeats', 'T', 'self.repeat(repeats)', 'm'],
  ['cat', 'TL tensors, i dim=0', 'T', 'at::cat(tensors, dim)'],
  ['stack', 'TL tensors, i dim=0', 'T', 'at::stack(tensors, dim)'],
  ['split', 'T self, i splitSize, i dim=0', 'TL', 'at::split(self, splitSize, dim)', 'm'],
  ['splitWithSizes', 'T self, il sizes, i dim=0', 'TL', 'at::split_with_sizes(self, sizes, dim)', 'm'],
  ['chunk', 'T self, i chunks, i dim=0', 'TL', 'at::chunk(self, chunks, dim)', 'm'],
  ['narrow', 'T self, i dim, i start, i length', 'T', 'at::narrow(self, dim, start, length)', 'm'],
  ['slice', 'T self, i dim=0, i? start=null, i? end=null, i step=1', 'T', 'at::slice(self, dim, start, end, step)', 'm'],
  ['select', 'T self, i dim, i index', 'T', 'at::select(self, dim, index)', 'm'],
  ['indexSelect', 'T self, i dim, T index', 'T', 'at::index_select(self, dim, index)', 'm'],
  ['gather', 'T self, i dim, T index', 'T', 'at::gather(self, dim, index)', 'm'],
  ['scatter', 'T self, i dim, T index, T src', 'T', 'at::scatter(self, dim, index, src)', 'm'],
  ['scatterValue', 'T self, i dim, T index, S value', 'T', 'at::scatter(self, dim, index, value)', 'm'],
  ['scatterAdd', 'T self, i dim, T index, T src', 'T', 'at::scatter_add(self, dim, index, src)', 'm'],
  ['maskedFill', 'T self, T mask, S value', 'T', 'at::masked_fill(self, mask, value)', 'm'],
  ['triu', 'T self, i diagonal=0', 'T', 'at::triu(self, diagonal)', 'm'],
  ['tril', 'T self, i diagonal=0', 'T', 'at::tril(self, diagonal)', 'm'],
  ['oneHot', 'T self, i numClasses=-1', 'T', 'at::one_hot(self, numClasses)', 'm'],

  // ── linear algebra and nn functional ──
  ['matmul', 'T self, T other', 'T', 'at::matmul(self, other)', 'm'],
  // Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix (LAPACK syevd).
  ['linalgEigh', "T self, s uplo='L'", 'T2', 'at::linalg_eigh(self, uplo)'],
  ['mm', 'T self, T other', 'T', 'at::mm(self, other)', 'm'],
  ['bmm', 'T self, T other', 'T', 'at::bmm(self, other)', 'm'],
  ['linear', 'T input, T weight, T? bias=null', 'T', 'at::linear(input, weight, bias)'],
  ['conv1d', 'T input, T weight, T? bias=null, il stride=1, il padding=0, il dilation=1, i groups=1', 'T', 'at::conv1d(input, weight, bias, stride, padding, dilation, groups)'],
  ['conv2d', 'T input, T weight, T? bias=null, il stride=1, il padding=0, il dilation=1, i groups=1', 'T', 'at::conv2d(input, weight, bias, stride, padding, dilation, groups)'],
  ['maxPool2d', 'T input, il kernelSize, il stride=[], il padding=0, il dilation=1, b ceilMode=false', 'T', 'at::max_pool2d(input, kernelSize, stride, padding, dilation, ceilMode)'],
  ['avgPool2d', 'T input, il kernelSize, il stride=[], il padding=0, b ceilMode=false, b countIncludePad=true', 'T', 'at::avg_pool2d(input, kernelSize, stride, padding, ceilMode, countIncludePad)'],
  ['adaptiveAvgPool2d', 'T input, il outputSize', 'T', 'at::adaptive_avg_pool2d(input, outputSize)'],
  ['batchNorm', 'T input, T? runningMean, T? runningVar, T? weight=null, T? bias=null, b training=false, f momentum=0.1, f eps=1e-5', 'T', 'distill::batch_norm(input, weight, bias, runningMean, runningVar, training, momentum, eps)'],
  ['layerNorm', 'T input, il normalizedShape, T? weight=null, T? bias=null, f eps=1e-5', 'T', 'at::layer_norm(input, normalizedShape, weight, bias, eps)'],
  ['dropout', 'T input, f p=0.5, b training=true', 'T', 'at::dropout(input, p, training)'],
  ['embedding', 'T weight, T indices, i paddingIdx=-1', 'T', 'at::embedding(weight, indices, paddingIdx)'],
  ['relu', 'T self', 'T', 'at::relu(self)', 'm'],
  ['leakyRelu', 'T self, S negativeSlope=0.01', 'T', 'at::leaky_relu(self, negativeSlope)', 'm'],
  ['gelu', "T self, s approximate='none'", 'T', 'at::gelu(self, approximate)', 'm'],
  ['silu', 'T self', 'T', 'at::silu(self)', 'm'],
  ['tanh', 'T self', 'T', 'at::tanh(self)', 'm'],
  ['sigmoid', 'T self', 'T', 'at::sigmoid(self)', 'm'],
  ['softmax', 'T self, i dim', 'T', 'at::softmax(self, dim)', 'm'],
  ['logSoftmax', 'T self, i dim', 'T', 'at::log_softmax(self, dim)', 'm'],
  ['crossEntropyRaw', 'T input, T target, T? weight, red reduction, i ignoreIndex, f labelSmoothing', 'T', 'at::cross_entropy_loss(input, target, weight, reduction, ignoreIndex, labelSmoothing)'],
  ['nllLossRaw', 'T input, T target, T? weight, red reduction, i ignoreIndex', 'T', 'at::nll_loss_nd(input, target, weight, reduction, ignoreIndex)'],
  ['klDivRaw', 'T input, T target, red reduction, b logTarget', 'T', 'at::kl_div(input, target, reduction, logTarget)'],
  ['hintonKdRaw', 'T student, T teacher, T? labels, f T, f alpha', 'TL', 'distill::hinton_kd(student, teacher, labels, T, alpha)'],
  ['mseLossRaw', 'T input, T target, red reduction', 'T', 'at::mse_loss(input, target, reduction)'],

  // ── in-place updates (optimizers, initialisers); they return `self` ──
  ['add_', 'T self, TS other, S alpha=1', 'self', 'self.add_(other, alpha)', 'm'],
  ['sub_', 'T self, TS other, S alpha=1', 'self', 'self.sub_(other, alpha)', 'm'],
  ['mul_', 'T self, TS other', 'self', 'self.mul_(other)', 'm'],
  ['div_', 'T self, TS other', 'self', 'self.div_(other)', 'm'],
  ['addcmul_', 'T self, T tensor1, T tensor2, S value=1', 'self', 'self.addcmul_(tensor1, tensor2, value)', 'm'],
  // self = beta·self + alpha·mat1·mat2 in one BLAS gemm: accumulates a matrix product without a temporary (the chunked LM loss's weight gradient).
  ['addmm_', 'T self, T mat1, T mat2, S beta=1, S alpha=1', 'self', 'self.addmm_(mat1, mat2, beta, alpha)', 'm'],
  ['addcdiv_', 'T self, T tensor1, T tensor2, S value=1', 'self', 'self.addcdiv_(tensor1, tensor2, value)', 'm'],
  ['lerp_', 'T self, T end, S weight', 'self', 'self.lerp_(end, weight)', 'm'],
  ['sqrt_', 'T self', 'self', 'self.sqrt_()', 'm'],
  ['clamp_', 'T self, S? min=null, S? max=null', 'self', 'self.clamp_(min, max)', 'm'],
  ['copy_', 'T self, T src', 'self', 'self.copy_(src)', 'm'],
  ['fill_', 'T self, S value', 'self', 'self.fill_(value)', 'm'],
  ['zero_', 'T self', 'self', 'self.zero_()', 'm'],
  ['uniform_', 'T self, f from=0, f to=1', 'self', 'self.uniform_(from, to)', 'm'],
  ['normal_', 'T self, f mean=0, f std=1', 'self', 'self.normal_(mean, std)', 'm'],
  ['bernoulli_', 'T self, f p=0.5', 'self', 'self.bernoulli_(p)', 'm'],
  ['maskedFill_', 'T self, T mask, S value', 'self', 'self.masked_fill_(mask, value)', 'm'],
];
