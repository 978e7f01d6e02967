#!/usr/bin/env node
// `npm run cairn -- <command>` and the client's nx targets: runs the built client from the directory
// the user invoked npm/nx in (npm and npx set INIT_CWD), so relative paths mean what the user meant.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(root, 'apps/client/dist/main.js');
if (!existsSync(main)) {
  console.error('cairn: the client is not built yet; run `npx nx build client` (or `npm run build`) first');
  process.exit(2);
}
const cwd = process.env.INIT_CWD && existsSync(process.env.INIT_CWD) ? process.env.INIT_CWD : process.cwd();
// The local cluster's admin token (npm start), passed in the environment, never in argv.
const localToken = join(root, '.cairn', 'controller', 'admin-token');
const env = { ...process.env };
if (!env.CAIRN_TOKEN && existsSync(localToken)) env.CAIRN_TOKEN = readFileSync(localToken, 'utf8').trim();
const child = spawn(process.execPath, [main, ...process.argv.slice(2)], { cwd, env, stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
