import type { IncomingMessage, ServerResponse } from 'node:http';

/** Plain HTTP on the process's port: health and readiness probes (metrics and dashboard come later). */
export function createProbeHandler(isReady: () => boolean) {
  return (request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, 'method not allowed\n');
    if (path === '/healthz') return send(response, 200, 'ok\n');
    if (path === '/readyz') return isReady() ? send(response, 200, 'ready\n') : send(response, 503, 'not ready\n');
    return send(response, 404, 'not found\n');
  };
}

function send(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  response.end(body);
}
