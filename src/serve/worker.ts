// The dashboard in a worker thread, for `--ui`: training runs synchronously on the main
// thread (one libtorch call after another), which would starve an HTTP server sharing its
// event loop. A worker has its own loop, so the page stays live while the trainer computes.
// Messages: → {type:'listening', url} | {type:'error', message}; ← 'close' → {type:'closed'}.
import { parentPort, workerData } from 'node:worker_threads';
import { startDashboard, type DashboardOptions } from './server.js';

const port = parentPort!;
try {
  const h = await startDashboard(workerData as DashboardOptions);
  port.on('message', (m: unknown) => {
    if (m !== 'close') return;
    void h.close().then(() => {
      port.postMessage({ type: 'closed' });
      port.close();
    });
  });
  port.postMessage({ type: 'listening', url: h.url });
} catch (e) {
  port.postMessage({ type: 'error', message: (e as Error).message, code: (e as NodeJS.ErrnoException).code });
  port.close();
}
