// The chart series the report page embeds as JSON (#report-data) and its browser code draws
// (browser/report_page.ts). Types only, with no imports, so the browser build can read them.

export interface ChartData {
  temperature?: { index: number; logits: number[]; classes: string[]; label: string; predicted: string; series: { T: number; probs: number[]; entropy: number; color: string }[] };
  loss?: { x: number[]; series: { name: string; values: (number | null)[]; color: string }[] };
  accuracy?: { x: number[]; series: { name: string; values: (number | null)[]; color: string; dash?: boolean }[] };
}
