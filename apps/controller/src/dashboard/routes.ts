import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { MAX_NAME_BYTES } from '@cairn/protocol';
import { type HttpAuthorizer, type HttpRoute, requireAuthorized, sendJson } from '@cairn/transfer';
import type { DashboardSources, FileSummary } from './overview';
import { OverviewStream } from './events';

/** Files per `/api/files` page unless `limit` says otherwise, and the most it allows. */
export const DEFAULT_FILES_LIMIT = 100;
export const MAX_FILES_LIMIT = 1000;

export interface DashboardOptions {
  sources: DashboardSources;
  /** Guards every `/api/*` route (the page itself is public: it holds no data). */
  authorize: HttpAuthorizer;
  /** The directory holding index.html, app.js and style.css (`dist/dashboard` in a build). */
  staticDir: string;
  /** Event stream period (default one second). */
  eventIntervalMs?: number;
  onError?: (err: unknown) => void;
}

export interface Dashboard {
  /** Routes by exact path, for `createHttpHandler({ routes })`. */
  routes: Record<string, HttpRoute>;
  /** Ends open event streams (at shutdown). */
  close(): void;
}

const STATIC_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/**
 * The page may run only its own script and style and talk only to its own origin; it cannot be
 * framed. File names (user data) are rendered as text, and this policy is the second fence.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/**
 * The controller's web dashboard: a static page (public) and a JSON API behind `authorize`:
 * `/api/overview` (cluster totals, health, nodes), `/api/events` (the same as Server-Sent Events, every
 * second) and `/api/files?prefix=&after=&limit=` (files by name prefix).
 */
export function createDashboard(options: DashboardOptions): Dashboard {
  const { sources, authorize } = options;
  const stream = new OverviewStream({ overview: () => sources.overview(), intervalMs: options.eventIntervalMs, onError: options.onError });
  const cache = new Map<string, Promise<Buffer>>();
  const load = (file: string) => {
    let content = cache.get(file);
    if (!content) {
      content = readFile(join(options.staticDir, file));
      content.catch(() => cache.delete(file)); // a missing asset is retried next time (and answered 500 now)
      cache.set(file, content);
    }
    return content;
  };

  const routes: Record<string, HttpRoute> = {};
  for (const [path, { file, type }] of Object.entries(STATIC_FILES)) {
    routes[path] = async (_request, response) => {
      const body = await load(file);
      response.writeHead(200, { ...PAGE_HEADERS, 'content-type': type, 'content-length': body.length, 'cache-control': 'no-cache' });
      response.end(body);
    };
  }
  routes['/api/overview'] = requireAuthorized(authorize, async (_request, response) => sendJson(response, 200, await sources.overview()));
  routes['/api/events'] = requireAuthorized(authorize, (_request, response) => stream.open(response));
  routes['/api/files'] = requireAuthorized(authorize, async (_request, response, url) => {
    const query = parseFilesQuery(url.searchParams);
    if (typeof query === 'string') return badRequest(response, query);
    sendJson(response, 200, await filesPage(sources, query));
  });

  return { routes, close: () => stream.close() };
}

/**
 * One `/api/files` page: `next` is the name to pass as `after` for the following page, and null on the
 * last one (always present, so a client can tell "last page" from "old server"). One row more than
 * `limit` is asked for, so a page that ends exactly at the last file is known to be the last.
 */
async function filesPage(sources: DashboardSources, query: FilesQuery): Promise<{ files: FileSummary[]; next: string | null }> {
  const rows = await sources.listFiles(query.prefix, query.after, query.limit + 1);
  const files = rows.slice(0, query.limit);
  return { files, next: rows.length > query.limit ? files[files.length - 1].name : null };
}

interface FilesQuery {
  prefix: string;
  after: string | undefined;
  limit: number;
}

/** `limit` as sent: plain decimal digits without a leading zero (no `1e2`, `0x10`, `+5`, ` 1` or `010`). */
const LIMIT_PATTERN = /^[1-9][0-9]{0,3}$/;

/** `prefix` (default ''), `after` and `limit` of `/api/files`, or what is wrong with them. */
function parseFilesQuery(params: URLSearchParams): FilesQuery | string {
  const prefix = params.get('prefix') ?? '';
  const after = params.get('after') ?? undefined;
  for (const [key, value] of [['prefix', prefix], ['after', after ?? '']]) {
    if (Buffer.byteLength(value) > MAX_NAME_BYTES) return `${key} is longer than ${MAX_NAME_BYTES} bytes`;
    if (value.includes('\0')) return `${key} contains NUL`;
  }
  const rawLimit = params.get('limit');
  if (rawLimit === null || rawLimit === '') return { prefix, after, limit: DEFAULT_FILES_LIMIT };
  const limit = LIMIT_PATTERN.test(rawLimit) ? Number(rawLimit) : NaN;
  if (!(limit >= 1 && limit <= MAX_FILES_LIMIT)) return `limit must be a whole number from 1 to ${MAX_FILES_LIMIT}, in plain digits`;
  return { prefix, after, limit };
}

function badRequest(response: ServerResponse, message: string): void {
  sendJson(response, 400, { error: { code: 'E_BAD_MESSAGE', message } });
}
