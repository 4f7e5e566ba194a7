// Small socket helpers shared by the servers (API, metrics, gRPC).
import type { Server } from 'node:http';
import { connect } from 'node:net';

/** Closes an HTTP server and its open connections (idempotent on undefined). */
export async function closeServer(s: Server | undefined): Promise<void> {
  if (!s) return;
  s.closeAllConnections();
  await new Promise<void>((r) => s.close(() => r()));
}

export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
