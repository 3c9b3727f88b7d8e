// Argument parsers for commander options: one place that turns a flag's text into a checked
// number. A bad value is refused by commander itself, naming the flag and the value
// ("option '--steps <n>' argument 'abc' is invalid. Expected a whole number ≥ 1."), before any
// command runs; a command never sees NaN. Word-valued flags use commander's `choices`.
import { InvalidArgumentError, Option } from 'commander';

type Parser<T> = (value: string) => T;

/** The flag's text as a number; '' and '  ' are not 0. */
function number(value: string): number {
  return value.trim() === '' ? NaN : Number(value);
}

/** A whole number in [min, max]. */
export function int(min = 0, max = Infinity): Parser<number> {
  const what = max === Infinity ? `a whole number ≥ ${min}` : `a whole number from ${min} to ${max}`;
  return (value) => {
    const n = number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`Expected ${what}.`);
    return n;
  };
}

/** A finite number above `gt` (exclusive) and/or within [min, max]. */
export function float(o: { gt?: number; min?: number; max?: number } = {}): Parser<number> {
  const bounds = [o.gt !== undefined && `> ${o.gt}`, o.min !== undefined && `≥ ${o.min}`, o.max !== undefined && `≤ ${o.max}`].filter(Boolean);
  const what = o.gt === 0 && bounds.length === 1 ? 'a positive number' : `a number${bounds.length ? ` ${bounds.join(' and ')}` : ''}`;
  return (value) => {
    const n = number(value);
    if (!Number.isFinite(n) || (o.gt !== undefined && !(n > o.gt)) || (o.min !== undefined && n < o.min) || (o.max !== undefined && n > o.max))
      throw new InvalidArgumentError(`Expected ${what}.`);
    return n;
  };
}

export const positive = float({ gt: 0 });
/** A share or a weight in [0, 1]. */
export const probability = float({ min: 0, max: 1 });

/** A comma-separated list, each item parsed by `item` ('16,32,64' → [16, 32, 64]). */
export function list<T>(item: Parser<T>, o: { min?: number; max?: number } = {}): Parser<T[]> {
  return (value) => {
    const parts = value.split(',').map((s) => s.trim());
    if (parts.length < (o.min ?? 1) || parts.length > (o.max ?? Infinity))
      throw new InvalidArgumentError(`Expected ${o.max === undefined ? `at least ${o.min ?? 1}` : `${o.min ?? 1} to ${o.max}`} comma-separated values.`);
    return parts.map((p) => {
      try {
        return item(p);
      } catch (e) {
        const each = (e as Error).message.replace(/^Expected /, '').replace(/\.$/, '');
        throw new InvalidArgumentError(`Expected comma-separated values, each ${each} ('${p}' is not).`);
      }
    });
  };
}

/** An option limited to `values` (commander's choices), its default shown in help as commander shows defaults. */
export function choice(flags: string, description: string, values: readonly string[], fallback?: string): Option {
  const o = new Option(flags, description).choices(values);
  return fallback === undefined ? o : o.default(fallback, fallback); // shown unquoted, like the numbers' defaults
}

/**
 * Commander's error text in the project's form: `distill: <flag> must be <what>, got '<value>'`
 * for a refused value (a parser above or `choices`), and the `distill:` prefix for the rest
 * (a missing required option, an unknown option).
 */
export function commanderError(text: string): string {
  const what = (why: string) => {
    const choices = /^Allowed choices are (.*)\.$/.exec(why.trim())?.[1];
    if (choices) return choices.replace(/, ([^,]*)$/, ' or $1');
    return why.trim().replace(/^Expected /, '').replace(/\.$/, '');
  };
  const option = /^error: option '(?:-\w, )?(--[\w-]+)[^']*' argument '(.*)' is invalid\. (.*)$/m.exec(text);
  if (option) return text.replace(option[0], `distill: ${option[1]} must be ${what(option[3])}, got '${option[2]}'`);
  const argument = /^error: command-argument value '(.*)' is invalid for argument '(\w+)'\. (.*)$/m.exec(text);
  if (argument) return text.replace(argument[0], `distill: ${argument[2]} must be ${what(argument[3])}, got '${argument[1]}'`);
  return text.replace(/^error: /, 'distill: ');
}
