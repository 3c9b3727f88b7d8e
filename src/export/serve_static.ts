// A tiny static file server for the export folder: the demo page needs http(s), since
// browsers will not instantiate wasm from file://. It serves GET/HEAD of plain files directly
// inside `dir` (no subfolders, no '..'), and sends the content types that matter
// (application/wasm lets the runtime compile while downloading).
// The shared HTTP layer (io/http.ts) binds 127.0.0.1 by default, refuses a foreign Host header,
// checks an optional key, refuses request bodies and sends the security headers; an HTML page
// gets a CSP that allows its own inline scripts by hash, scripts and wasm from this server,
// and requests back to it only.
import type { Server } from 'node:http';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { HttpError, cspHash, refuseBody, startHttpServer } from '../io/http.js';

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

export interface StaticServerOptions {
  /** Interface to bind; 127.0.0.1 by default. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** When set, every request needs `Authorization: Bearer <key>` or `?key=<key>` (scripted access; the page's own fetches send neither). */
  apiKey?: string;
}

/**
 * The CSP of an HTML page from this folder. Inline `<script>` bodies are allowed by their
 * sha256, so an injected script would not run; 'wasm-unsafe-eval' lets onnxruntime-web compile
 * its wasm (WebAssembly is otherwise blocked by a script-src without 'unsafe-eval').
 */
export function pageCsp(html: string): string {
  const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/gi)].map((m) => cspHash(m[1]));
  return [
    "default-src 'none'",
    `script-src 'self' 'wasm-unsafe-eval' ${[...new Set(inline)].join(' ')}`.trim(),
    "style-src 'self' 'unsafe-inline'", // the page's own <style> and style attributes
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export async function serveStatic(dir: string, opts: StaticServerOptions = {}): Promise<StaticServer> {
  const root = resolve(dir);
  const http = await startHttpServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} not allowed`, 'method_not_allowed', null, undefined, { Allow: 'GET, HEAD' });
    refuseBody(req);
    let name: string;
    try {
      name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1)) || 'index.html';
    } catch {
      throw new HttpError(400, 'malformed URL encoding');
    }
    // Only a bare file name inside root: nothing above it, no hidden temp files.
    if (name !== basename(name) || name.startsWith('.')) throw new HttpError(404, 'not found', 'not_found');
    const path = join(root, name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st?.isFile()) throw new HttpError(404, 'not found', 'not_found');
    const type = TYPES[extname(name)] ?? 'application/octet-stream';
    if (extname(name) === '.html') {
      const html = readFileSync(path);
      res.writeHead(200, { 'Content-Type': type, 'Content-Length': html.length, 'Content-Security-Policy': pageCsp(html.toString('utf8')) });
      res.end(req.method === 'HEAD' ? undefined : html);
      return;
    }
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': st.size });
    if (req.method === 'HEAD') res.end();
    else createReadStream(path).on('error', () => res.destroy()).pipe(res); // a file removed meanwhile cuts the answer
  }, { host: opts.host, port: opts.port, apiKey: opts.apiKey, keyInQuery: true });
  return { url: `${http.origin}/`, server: http.server, close: http.close };
}
