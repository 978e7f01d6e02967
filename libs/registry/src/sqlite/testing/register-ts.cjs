/**
 * Lets a plain `node` child process (see commit-then-hang.ts) run this library's TypeScript
 * sources: compiles each .ts file on require with SWC, and maps a relative './x.js' specifier to
 * './x.ts' when only the source exists. Test-only; start node with `--conditions=@cairn/source`
 * so workspace packages resolve to their sources too.
 */
const Module = require('node:module');
const { readFileSync } = require('node:fs');
const { transformSync } = require('@swc/core');

require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(readFileSync(filename, 'utf8'), {
    filename,
    swcrc: false,
    configFile: false,
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  try {
    return resolveFilename.call(this, request, ...rest);
  } catch (err) {
    if (request.startsWith('.') && request.endsWith('.js')) {
      return resolveFilename.call(this, `${request.slice(0, -3)}.ts`, ...rest);
    }
    throw err;
  }
};
