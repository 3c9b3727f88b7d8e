// Numbers as the dashboard shows them ('—' for a value not known yet).

type Maybe = number | null | undefined;

export const pct = (v: Maybe): string => (v == null ? '—' : (v * 100).toFixed(1) + '%');
export const num = (v: Maybe): string => (v == null ? '—' : Math.round(v).toLocaleString('en-US'));
export const rate = (v: Maybe): string => (v == null ? '—' : v >= 1000 ? (v / 1000).toFixed(1) + 'k/s' : v.toFixed(0) + '/s');

/** Seconds as m:ss or h:mm:ss. */
export function dur(s: Maybe): string {
  if (s == null || !isFinite(s)) return '—';
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, x = s % 60;
  return (h ? h + ':' + (m < 10 ? '0' : '') : '') + m + ':' + (x < 10 ? '0' : '') + x;
}
