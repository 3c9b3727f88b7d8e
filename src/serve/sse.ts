// Server-Sent Events for one stage: the page's EventSource gets
//   hello            {run, stage}           (the page clears what it holds: a reconnect resends everything)
//   line             one metrics.jsonl record, first the existing ones, then each as appended
//   synced           {}                      the backlog is sent (render once, not per line)
//   reset            {}                      the file was rewritten (a resume): drop everything, lines follow
//   status           {status}                running / stale / finished, when it changes
//   done             {}                      final weights written; the server then ends the stream
// and a comment line every heartbeatMs so proxies and the browser keep the connection open.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MetricsFollower, type FollowOptions } from './follow.js';
import type { StagePaths } from './runs.js';

export interface StreamOptions extends FollowOptions {
  heartbeatMs?: number;
}

// A client that stops reading must not make the server buffer without bound.
const MAX_BUFFERED = 8 * 1024 * 1024;

/** Serves one SSE stream; returns a function that ends it (used when the server closes). */
export function streamStage(
  req: IncomingMessage, res: ServerResponse, ids: { run: string; stage: string }, paths: StagePaths, o: StreamOptions = {},
): () => void {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  let ended = false;
  const send = (event: string, data: unknown) => {
    if (ended) return;
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (res.writableLength > MAX_BUFFERED) end();
  };
  const heartbeat = setInterval(() => {
    if (!ended) res.write(': heartbeat\n\n');
  }, o.heartbeatMs ?? 15_000);
  const follower = new MetricsFollower(paths, {
    line: (l) => send('line', l),
    reset: () => send('reset', {}),
    status: (status) => send('status', { status }),
    done: () => {
      send('done', {});
      end();
    },
  }, o);
  // Every way a stream stops goes through here, so the watcher and timer can never leak.
  function end(): void {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    follower.close();
    res.end();
  }
  req.on('close', end); // the client went away (tab closed, reload, EventSource.close())
  res.on('close', end);
  res.on('error', end);

  res.write('retry: 3000\n\n'); // EventSource reconnect delay after a dropped connection
  send('hello', ids);
  follower.start(); // sends the backlog synchronously, and `done` if the stage already finished
  send('synced', {});
  return end;
}
