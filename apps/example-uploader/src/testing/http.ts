import { type Agent, request } from 'node:http';
import { Readable, Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTP exchange with node:http (it sends the path exactly as given, `..` and `%2F` included). */
export function call(port: number, method: string, path: string, body?: Buffer | Readable, agent: Agent | false = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
}

export const json = (answer: Answer) => JSON.parse(answer.body.toString('utf8'));

export type LogLine = Record<string, unknown>;

/** A logger at debug level whose lines are kept, parsed, in `lines`. */
export function capturedLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

/** Resolves with the first line that passes `test`, once one is logged. */
export function logged(lines: LogLine[], test: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
  return until(() => lines.find(test), timeoutMs);
}

/** Polls `probe` until it returns something (a condition, with a generous limit; never a duration). */
export async function until<T>(probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
