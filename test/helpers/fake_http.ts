// A throwaway HTTP server on a free loopback port, for tests that need a peer that behaves
// in one particular (often wrong) way: a server that drops a field, echoes a header back,
// lacks an endpoint. The test gives the answer; this does the listening, body reading and closing.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What to answer: a status (200 unless said) and a JSON value, or raw `text` (sent as JSON's content type all the same). */
export type FakeAnswer = { status?: number; json?: unknown; text?: string };

export interface FakeServer {
  /** http://127.0.0.1:<port> */
  origin: string;
  /** Requests answered so far. */
  hits(): number;
  close(): Promise<void>;
}

/** Serves `answer(req, body)` (the request body read whole, as text) on 127.0.0.1 at a free port. */
export async function fakeHttpServer(answer: (req: IncomingMessage, body: string) => FakeAnswer | Promise<FakeAnswer>): Promise<FakeServer> {
  let hits = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', async () => {
      hits++;
      const a = await answer(req, body);
      res.writeHead(a.status ?? 200, { 'Content-Type': 'application/json' });
      res.end(a.text ?? JSON.stringify(a.json));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits: () => hits,
    // Kept-alive client connections would hold close() open: they are cut too.
    close: () => new Promise((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    }),
  };
}
