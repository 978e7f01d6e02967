import { envName, envToFlags } from './config-env';

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

describe('envToFlags with switches', () => {
  it.each(['true', 'TRUE', 'True', '1', 'yes', 'YES', ' yes '])('reads %j as on', (value) => {
    expect(envToFlags({ CAIRN_JSON: value }, ['json'], 'CAIRN_', ['json'])).toEqual(['--json=true']);
  });

  it.each(['false', 'FALSE', '0', 'no', 'No'])('reads %j as off', (value) => {
    expect(envToFlags({ CAIRN_JSON: value }, ['json'], 'CAIRN_', ['json'])).toEqual(['--json=false']);
  });

  it.each(['maybe', 'on', '2', 'y'])('refuses %j with a usage error naming the variable', (value) => {
    expect(() => envToFlags({ CAIRN_QUIET: value }, ['quiet'], 'CAIRN_', ['quiet'])).toThrow(
      expect.objectContaining({ code: 'E_USAGE', message: `CAIRN_QUIET must be true or false (or 1/0, yes/no), got "${value}"` }),
    );
  });

  it('leaves options that are not switches as they are, and honours another prefix', () => {
    expect(envToFlags({ CAIRN_EXAMPLE_PORT: '1', CAIRN_EXAMPLE_JSON: 'no' }, ['port', 'json'], 'CAIRN_EXAMPLE_', ['json'])).toEqual(['--port=1', '--json=false']);
  });
});

describe('envName', () => {
  it('is the prefix and the option in upper case, dashes as underscores', () => {
    expect(envName('log-level')).toBe('CAIRN_LOG_LEVEL');
    expect(envName('port', 'CAIRN_EXAMPLE_')).toBe('CAIRN_EXAMPLE_PORT');
  });
});
