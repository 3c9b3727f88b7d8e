// The public surface of reasoning problems: built-in seeded families with exact answers and
// reference solutions, the train/test split rule, and importers for GSM8K, MATH and plain JSONL.
export { generateProblems, splitOf, mulberry32, FAMILIES, type GenerateOptions } from './generate.js';
export { defineFamily, referenceSolution, type ProblemFamily, type FamilySpec, type Lang } from './family.js';
export { chickensRabbits } from './chickens_rabbits.js';
export { ages } from './ages.js';
export { sumDifference } from './sum_difference.js';
export { workRates } from './work_rates.js';
export { meeting } from './meeting.js';
export {
  parseGsm8k, parseMath, parseJsonl, importProblems, problemIdFor, detectLang, type ImportFormat,
} from './importers.js';
