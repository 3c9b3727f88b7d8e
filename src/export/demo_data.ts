// The page's data, written by web_page.ts into <script id="demo-data"> as JSON and read by
// browser/export_page.ts in the browser. Types only, so the browser code may import it (`import type`)
// and the Node build compiles it too.

export interface DemoModel {
  /** 'teacher', 'student', … (a CSS/test key). */
  role: string;
  /** Heading on the card, e.g. 'teacher (cnn)'. */
  label: string;
  arch: string;
  /** The .onnx file name, relative to the page. */
  file: string;
}

export interface DemoData {
  models: DemoModel[];
  /** Per-sample input shape, e.g. [1, 28, 28]. */
  inputShape: number[];
  classNames: string[];
  /**
   * The embedded test images: `pixels` is float32 little-endian, base64 (exact values, so the
   * page and onnxruntime-node see the same inputs, at a third of the size of JSON numbers),
   * (n × ∏inputShape); their labels and test-set rows.
   */
  samples: { pixels: string; labels: number[]; index: number[] };
}
