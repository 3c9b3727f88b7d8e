// A tiny static file server for the export folder: the demo page needs http(s), since
// browsers will not instantiate wasm from file://. It binds 127.0.0.1 by default, serves
// GET/HEAD of plain files directly inside `dir` (no subfolders, no '..'), and sends the
// content types that matter (application/wasm lets the runtime compile while downloading).
import { createServer, type Server } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm', '.onnx': 'application/octet-stream', '.json': 'application/json; charset=utf-8',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.safetensors': 'application/octet-stream', '.md': 'text/markdown; charset=utf-8',
};

export interface StaticServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export function serveStatic(dir: string, opts: { host?: string; port?: number } = {}): Promise<StaticServer> {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    let name: string;
    try {
      name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1)) || 'index.html';
    } catch {
      res.writeHead(400).end();
      return;
    }
    // Only a bare file name inside root: nothing above it, no hidden temp files.
    if (name !== basename(name) || name.startsWith('.')) {
      res.writeHead(404).end();
      return;
    }
    const path = join(root, name);
    let size: number;
    try {
      const st = statSync(path);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(name)] ?? 'application/octet-stream', 'content-length': size, 'cache-control': 'no-store' });
    if (req.method === 'HEAD') res.end();
    else createReadStream(path).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      const a = server.address() as AddressInfo;
      ok({
        url: `http://${a.address}:${a.port}/`,
        server,
        close: () => new Promise<void>((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}
