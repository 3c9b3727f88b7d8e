// The dtype a loaded LM is held in, one vocabulary for every loader (Hugging Face folder,
// GGUF, LM folder) and every command's --dtype flag.
import { ConfigError } from '../torch/errors.js';

/**
 * The dtype a loaded LM's parameters are held in:
 *   float32 (the default): every weight widened exactly to float32;
 *   bfloat16 / float16: rounded to it (exact when the file holds it already);
 *   auto: the file's own dtype, without widening, where the CPU can run it: bfloat16 and
 *         float32 stay; float16 becomes float32 (libtorch 1.13 has no float16 matmul on the CPU);
 *         a quantized GGUF (Q8_0, Q4_K …) dequantizes to float32, its one exact home: a Q8_0
 *         value d·q (an f16 scale of 11 significant bits times an int8 of up to 7) needs up to 18, bfloat16 has 8.
 */
export type LmDtype = 'auto' | 'float32' | 'bfloat16' | 'float16';
export const LM_DTYPES: readonly LmDtype[] = ['float32', 'bfloat16', 'float16', 'auto'];

/** `v` as an LmDtype; anything else is one ConfigError naming the choices (`what` says where it came from). */
export function checkLmDtype(v: unknown, what = 'dtype'): LmDtype {
  if (typeof v === 'string' && (LM_DTYPES as readonly string[]).includes(v)) return v as LmDtype;
  throw new ConfigError(`${what} must be one of ${LM_DTYPES.join(', ')}; got ${JSON.stringify(v)}`);
}

/** The parameters' dtype for a requested LmDtype and the file's (most common) weight dtype. */
export function resolveLmDtype(want: LmDtype, file: string): 'float32' | 'bfloat16' | 'float16' {
  if (want !== 'auto') return want;
  return file === 'bfloat16' ? 'bfloat16' : 'float32';
}
