import { CairnError } from '@cairn/protocol';
import { WS_PATH, toWebSocketUrl } from './endpoint';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof CairnError ? err.code : `not a CairnError: ${String(err)}`;
  }
  return undefined;
}

describe('toWebSocketUrl', () => {
  it('serves under /ws', () => {
    expect(WS_PATH).toBe('/ws');
  });

  it.each([
    ['127.0.0.1:7700', 'ws://127.0.0.1:7700/ws'],
    ['localhost:7701', 'ws://localhost:7701/ws'],
    ['[::1]:7700', 'ws://[::1]:7700/ws'],
    ['  127.0.0.1:7700  ', 'ws://127.0.0.1:7700/ws'],
    ['ws://h:1', 'ws://h:1/ws'],
    ['ws://h:1/ws', 'ws://h:1/ws'],
    ['http://h:1', 'ws://h:1/ws'],
    ['http://h:1/', 'ws://h:1/ws'],
    ['http://[::1]:8080', 'ws://[::1]:8080/ws'],
    ['https://h', 'wss://h/ws'],
    ['https://h:8443/dashboard', 'wss://h:8443/ws'],
    ['wss://h:9/x?y', 'wss://h:9/ws'],
    ['ws://h:5#fragment', 'ws://h:5/ws'],
    ['WS://H:5', 'ws://h:5/ws'],
  ])('%s → %s', (input, url) => {
    expect(toWebSocketUrl(input)).toBe(url);
  });

  it.each(['', '   ', 'ftp://x', 'file:///etc/passwd', '::::', 'h:notaport', 'h:99999', 'http://'])(
    'refuses %p with E_USAGE',
    (input) => {
      expect(codeOf(() => toWebSocketUrl(input))).toBe('E_USAGE');
    },
  );
});
