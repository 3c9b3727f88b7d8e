// ggml tensor types as GGUF files store them (ggml/include/ggml.h `enum ggml_type`, in the
// llama.cpp that node-llama-cpp 3.21.1 bundles): the id a tensor info carries, the name,
// and the block layout. A tensor of a type with block size B and type size S holds its
// fastest-varying dimension ne[0] in ne[0] / B blocks of S bytes each, so a row takes
// ne[0] / B · S bytes and ne[0] must be a multiple of B. The table is checked against
// ggml's own ggml_type_name / ggml_blck_size / ggml_type_size in test/io/gguf_quants.test.ts.
import { FormatError } from '../torch/errors.js';

export interface GgmlTypeInfo {
  id: number;
  /** ggml.h's name without the GGML_TYPE_ prefix (ggml_type_name gives it in lower case). */
  name: string;
  /** Elements per block. */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
}

// [id, name, block size, bytes per block]; ids 4, 5 and 31-33, 36-38 are retired in ggml.
const TABLE: [number, string, number, number][] = [
  [0, 'F32', 1, 4], [1, 'F16', 1, 2], [2, 'Q4_0', 32, 18], [3, 'Q4_1', 32, 20],
  [6, 'Q5_0', 32, 22], [7, 'Q5_1', 32, 24], [8, 'Q8_0', 32, 34], [9, 'Q8_1', 32, 36],
  [10, 'Q2_K', 256, 84], [11, 'Q3_K', 256, 110], [12, 'Q4_K', 256, 144], [13, 'Q5_K', 256, 176],
  [14, 'Q6_K', 256, 210], [15, 'Q8_K', 256, 292], [16, 'IQ2_XXS', 256, 66], [17, 'IQ2_XS', 256, 74],
  [18, 'IQ3_XXS', 256, 98], [19, 'IQ1_S', 256, 50], [20, 'IQ4_NL', 32, 18], [21, 'IQ3_S', 256, 110],
  [22, 'IQ2_S', 256, 82], [23, 'IQ4_XS', 256, 136], [24, 'I8', 1, 1], [25, 'I16', 1, 2],
  [26, 'I32', 1, 4], [27, 'I64', 1, 8], [28, 'F64', 1, 8], [29, 'IQ1_M', 256, 56],
  [30, 'BF16', 1, 2], [34, 'TQ1_0', 256, 54], [35, 'TQ2_0', 256, 66], [39, 'MXFP4', 32, 17],
  [40, 'NVFP4', 64, 36], [41, 'Q1_0', 128, 18], [42, 'Q2_0', 64, 18],
];

export const GGML_TYPES: ReadonlyMap<number, GgmlTypeInfo> = new Map(
  TABLE.map(([id, name, blockSize, typeSize]) => [id, { id, name, blockSize, typeSize }]),
);

/** The ids of the types this project reads or writes, by name. */
export const GGML_TYPE = {
  F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8,
  Q4_K: 12, Q5_K: 13, Q6_K: 14, BF16: 30,
} as const;
export type GgmlTypeName = keyof typeof GGML_TYPE;

/**
 * llama.h `enum llama_ftype`: a file's general.file_type, the type most of its matrices
 * have (norms stay F32; "_M"/"_S" mixes give some tensors a larger type).
 */
export const LLAMA_FTYPE = {
  ALL_F32: 0, MOSTLY_F16: 1, MOSTLY_Q4_0: 2, MOSTLY_Q4_1: 3, MOSTLY_Q8_0: 7, MOSTLY_Q5_0: 8, MOSTLY_Q5_1: 9,
  MOSTLY_Q4_K_S: 14, MOSTLY_Q4_K_M: 15, MOSTLY_Q5_K_S: 16, MOSTLY_Q5_K_M: 17, MOSTLY_Q6_K: 18, MOSTLY_BF16: 32,
} as const;

/** "Q4_K (12)", or "unknown type 99" for an id ggml does not define. */
export function describeGgmlType(id: number): string {
  const t = GGML_TYPES.get(id);
  return t ? `${t.name} (${t.id})` : `unknown type ${id}`;
}

/** A type id from a name ('Q8_0', case-insensitive) or an id; throws FormatError for neither. */
export function ggmlTypeId(type: number | string): number {
  if (typeof type === 'number') {
    if (!GGML_TYPES.has(type)) throw new FormatError(`GGUF: ${describeGgmlType(type)}`);
    return type;
  }
  const upper = type.toUpperCase();
  for (const t of GGML_TYPES.values()) if (t.name === upper) return t.id;
  throw new FormatError(`GGUF: unknown ggml type name '${type}'`);
}

/**
 * Bytes that `numel` elements of a type take; the caller guarantees each row (ne[0]) is a
 * whole number of blocks, so numel is too.
 */
export function ggmlBytes(type: GgmlTypeInfo, numel: number): number {
  return (numel / type.blockSize) * type.typeSize;
}
