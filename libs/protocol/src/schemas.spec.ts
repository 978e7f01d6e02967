import fc from 'fast-check';
import { isNodeAddress, isNodeId } from './schemas';

describe('argument checks', () => {
  it('isNodeId: 1-64 of [A-Za-z0-9_-], nothing else', () => {
    for (const good of ['n-4f1c2a9b33e0', 'node_1', 'A', 'x'.repeat(64)]) expect(isNodeId(good)).toBe(true);
    for (const bad of ['', 'x'.repeat(65), 'bad id', 'n/1', 'n\u00e9', 'n-1\n']) expect(isNodeId(bad)).toBe(false);
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (value) => {
        expect(isNodeId(value)).toBe(/^[A-Za-z0-9_-]{1,64}$/.test(value));
      }),
    );
  });

  it('isNodeAddress: host:port, or wss://host:port', () => {
    for (const good of ['127.0.0.1:7701', 'node-1.example:443', 'wss://node-1.example:7701', '[::1]:7701']) expect(isNodeAddress(good)).toBe(true);
    for (const bad of ['', '127.0.0.1', 'http://node:7701', 'node:port', 'node :7701']) expect(isNodeAddress(bad)).toBe(false);
  });
});
