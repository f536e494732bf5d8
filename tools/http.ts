/** Small HTTP server chores that tests, the benchmarks and tools/ repeat: listening on a free loopback port, closing at once. */
import { once } from 'node:events';
import type { Server } from 'node:http';

/** Listens on a free loopback port; resolves with the server's base URL. */
export async function listenOnLoopback(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('no address');
  return `http://127.0.0.1:${address.port}`;
}

/** Closes the server and every connection it holds (kept-alive ones too), and waits until it is closed. */
export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
}
