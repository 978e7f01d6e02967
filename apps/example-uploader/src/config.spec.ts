import { parseUploaderConfig } from './config';

describe('parseUploaderConfig', () => {
  it('has loopback defaults', () => {
    expect(parseUploaderConfig([], {})).toEqual({ host: '127.0.0.1', port: 7780, controller: '127.0.0.1:7700', logLevel: 'info', logFormat: 'json', drainTimeoutMs: 10_000 });
  });

  it('reads flags in either form', () => {
    expect(parseUploaderConfig(['--port', '0', '--controller=127.0.0.1:9000', '--host', '::1'], {})).toMatchObject({
      host: '::1',
      port: 0,
      controller: '127.0.0.1:9000',
    });
  });

  it('reads CAIRN_EXAMPLE_* from the environment, and flags win', () => {
    const env = { CAIRN_EXAMPLE_PORT: '8000', CAIRN_EXAMPLE_CONTROLLER: '10.0.0.1:7700', CAIRN_CONTROLLER: 'ignored:1', CAIRN_TOKEN: 'secret' };
    expect(parseUploaderConfig([], env)).toMatchObject({ port: 8000, controller: '10.0.0.1:7700' });
    expect(parseUploaderConfig(['--port=8001'], env)).toMatchObject({ port: 8001 });
  });

  it('prints pretty logs only when asked, by flag or CAIRN_EXAMPLE_LOG_FORMAT', () => {
    expect(parseUploaderConfig(['--log-format', 'pretty'], {}).logFormat).toBe('pretty');
    expect(parseUploaderConfig([], { CAIRN_EXAMPLE_LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(parseUploaderConfig([], { CAIRN_LOG_FORMAT: 'pretty' }).logFormat).toBe('json'); // its own prefix, like its other options
  });

  it('reads the drain time as a duration, by flag or CAIRN_EXAMPLE_DRAIN_TIMEOUT', () => {
    expect(parseUploaderConfig(['--drain-timeout', '30s'], {}).drainTimeoutMs).toBe(30_000);
    expect(parseUploaderConfig([], { CAIRN_EXAMPLE_DRAIN_TIMEOUT: '2m' }).drainTimeoutMs).toBe(120_000);
    expect(parseUploaderConfig(['--drain-timeout=0'], {}).drainTimeoutMs).toBe(0);
    expect(() => parseUploaderConfig(['--drain-timeout', 'soon'], {})).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
  });

  it('refuses a bad port', () => {
    expect(() => parseUploaderConfig(['--port', '70000'], {})).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    expect(() => parseUploaderConfig(['--port', '1.5'], {})).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
  });
});
