// Starting an HTTP server on an interface, shared by the dashboard and the OpenAI server.
import type { Server } from 'node:http';

/**
 * Listens on host:port (port 0 picks a free one) and returns the port and the host to put
 * in a URL: IPv6 in brackets, and 127.0.0.1 for a server bound to every interface.
 */
export async function listen(server: Server, host: string, port = 0): Promise<{ port: number; urlHost: string }> {
  server.on('clientError', (_e, socket) => socket.destroy());
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok());
  });
  const bound = (server.address() as { port: number }).port;
  return { port: bound, urlHost: host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host };
}
