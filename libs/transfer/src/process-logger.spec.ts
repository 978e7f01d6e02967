import { PassThrough } from 'node:stream';
import { createProcessLogger } from './process-logger';

/** A logger writing into memory, and the text written so far. */
function capture(format: 'json' | 'pretty', level = 'info', base: Record<string, string> = { role: 'node', node: 'n-1234' }) {
  const sink = new PassThrough();
  let text = '';
  sink.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const log = createProcessLogger({ level, format, base, destination: sink });
  // pino-pretty hands lines on asynchronously.
  const written = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    return text;
  };
  return { log, written };
}

describe('createProcessLogger', () => {
  it('writes JSON lines with the base fields by default', async () => {
    const { log, written } = capture('json');

    log.info({ uploadId: 'u-1', hash: 'ab' }, 'chunk stored');

    const lines = (await written()).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([expect.objectContaining({ level: 30, role: 'node', node: 'n-1234', uploadId: 'u-1', hash: 'ab', msg: 'chunk stored' })]);
  });

  it('writes readable lines when pretty is asked for: the base fields as a prefix, other fields below', async () => {
    const { log, written } = capture('pretty');

    log.info({ uploadId: 'u-1' }, 'chunk stored');

    const text = await written();
    expect(() => JSON.parse(text.split('\n')[0])).toThrow();
    expect(text).toMatch(/INFO.*node n-1234: chunk stored/);
    expect(text).toMatch(/uploadId: "u-1"/);
    expect(text).not.toMatch(/role:|pid:|hostname:/);
    expect(text).not.toContain('\u001b['); // no colours into something that is not a terminal
  });

  it('leaves out what is below the level', async () => {
    const { log, written } = capture('json', 'warn');

    log.info('not shown');
    log.debug('not shown either');
    log.warn('shown');

    expect((await written()).trim().split('\n').map((l) => JSON.parse(l).msg)).toEqual(['shown']);
  });

  it.each(['json', 'pretty'] as const)('never writes the values of secret-bearing fields (%s)', async (format) => {
    const { log, written } = capture(format);

    log.warn(
      { token: 'cairn_0123_SECRETTOKEN', grant: 'SECRETGRANT', receipt: 'SECRETRECEIPT', session: { token: 'SECRETNESTED' }, tokenId: '0123' },
      'careless',
    );

    const text = await written();
    expect(text).not.toMatch(/SECRET/);
    expect(text).toMatch(/0123/); // token ids are not secrets
    expect(text).toMatch(/\[redacted\]/);
  });
});
