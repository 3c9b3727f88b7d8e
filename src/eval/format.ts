// Human units for the proof table. Sizes use SI prefixes (1 MB = 10^6 bytes), as file
// managers and `ls -h --si` do; the JSON keeps the exact numbers.

const NONE = '—';

/** 950 → "950", 101_770 → "101.8k", 1_234_567 → "1.2M". */
export function formatCount(n: number): string {
  const a = Math.abs(n);
  if (a < 1e3) return String(Math.round(n));
  if (a < 1e6) return `${(n / 1e3).toFixed(1)}k`;
  if (a < 1e9) return `${(n / 1e6).toFixed(1)}M`;
  return `${(n / 1e9).toFixed(1)}B`;
}

/** 812 → "812 B", 4_600_000 → "4.6 MB". */
export function formatBytes(n: number): string {
  const a = Math.abs(n);
  if (a < 1e3) return `${Math.round(n)} B`;
  if (a < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (a < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(1)} GB`;
}

/** Two significant figures below 10 ms, then fewer decimals: 0.2134 → "0.21 ms", 12.34 → "12.3 ms", 0.0123 → "0.012 ms". */
export function formatMs(ms: number): string {
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  if (ms >= 0.1) return `${ms.toFixed(2)} ms`;
  return `${ms.toPrecision(2)} ms`;
}

/** Samples per second: 12_345 → "12.3k/s". */
export function formatRate(perS: number): string {
  return `${formatCount(perS)}/s`;
}

/** A fraction as a percentage: 0.9312 → "93.1%"; null → "—". */
export function formatPercent(f: number | null): string {
  return f === null ? NONE : `${(f * 100).toFixed(1)}%`;
}
