import { envToFlags } from './config-env';

describe('envToFlags', () => {
  it('turns declared CAIRN_* variables into flags, in the order of the options', () => {
    expect(envToFlags({ CAIRN_NODE_TIMEOUT: '3s', CAIRN_PORT: '7800' }, ['port', 'node-timeout'])).toEqual([
      '--port=7800',
      '--node-timeout=3s',
    ]);
  });

  it('ignores undeclared and empty variables, so secrets never become flags', () => {
    expect(envToFlags({ CAIRN_CLUSTER_SECRET: 's3cret', CAIRN_TOKEN: 't', CAIRN_PORT: '' }, ['port'])).toEqual([]);
  });

  it('keeps values with spaces and equals signs whole', () => {
    expect(envToFlags({ CAIRN_DATA: '/a b/c=d' }, ['data'])).toEqual(['--data=/a b/c=d']);
  });
});
