import { KeyObject, createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_PAGE, NONCE_BYTES, claimProof, controllerProof, nodeProof, proofsEqual, signGrant } from '@cairn/protocol';
import { MAX_UPLOAD_HOLDS } from '@cairn/registry';
import { CairnClient, expectFrame as expectFrameType } from '@cairn/transfer';
import { CliResult, MAIN, Spawned, killHard, runCli, spawnProcess, waitForLog } from './support/processes';
import { TestCluster } from './support/test-cluster';
import { cmdline, errorCode, rawPeer } from './support/raw';
import { makeTestCa } from './support/tls';
import { sha256 } from './support/files';

/**
 * DESIGN.md invariant 6, "no one gets in uninvited": the cluster secret, client tokens and their
 * scopes, the failed-authentication cap, Ed25519 chunk grants, the key files, TLS — and that no secret
 * ever shows up in a log line or a command line. Every refusal is checked by its error code and by
 * looking at what was (not) written.
 *
 * Failed authentications are capped per address (10 a minute), so the tests that fail on purpose
 * connect from other loopback addresses (127.0.0.2, 127.0.0.3) and the CLI runs from 127.0.0.1 stay
 * well under the cap.
 */
describe('security', () => {
  let cluster: TestCluster;
  let clusterSecret: string;
  let grantKey: KeyObject;
  /** Every secret this session used or minted: the last test searches logs and argv for them. */
  const secrets = new Map<string, string>();
  /** argv of every process this file started besides the cluster's own (CLI runs, extra nodes). */
  const argvs: string[][] = [];
  /** stderr of every CLI run. */
  const stderrs: string[] = [];
  /** Extra processes (refused nodes) whose log lines are searched too. */
  const extraProcesses: Spawned[] = [];

  const cli = async (args: string[], options: { token?: string; input?: Buffer } = {}): Promise<CliResult> => {
    argvs.push(args);
    const result = await cluster.cli(args, options);
    stderrs.push(result.stderr);
    return result;
  };
  const json = (result: CliResult) => JSON.parse(result.stdout.toString());
  const names = async (prefix = '') => (json(await cli(['ls', prefix, '--json'])) as Array<{ name: string }>).map((f) => f.name);
  const createToken = async (scope: 'read' | 'write' | 'admin', prefix?: string): Promise<{ id: string; token: string }> => {
    const created = await cli(['token', 'create', '--scope', scope, ...(prefix === undefined ? [] : ['--prefix', prefix]), '--json']);
    expect(created.code).toBe(0);
    const token = json(created) as { id: string; token: string };
    secrets.set(`${scope} token ${token.id}`, token.token);
    return token;
  };
  const spawnNode = (name: string, flags: string[], env: NodeJS.ProcessEnv = {}) => {
    const args = ['--host', '127.0.0.1', '--port', '0', '--data', join(cluster.root, name), '--controller', cluster.controllerAddress, '--scrub-interval', '1h', ...flags];
    argvs.push(args);
    const proc = spawnProcess(MAIN.node, args, env);
    extraProcesses.push(proc);
    return proc;
  };
  const nodeIds = async () => (await cluster.sdk.nodesInfo()).map((n) => n.id);

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 2, replicas: 2 });
    clusterSecret = readFileSync(cluster.secretFile, 'utf8').trim();
    grantKey = createPrivateKey(readFileSync(join(cluster.root, 'controller', 'grant-key.pem')));
    secrets.set('cluster secret', clusterSecret);
    secrets.set('admin token', cluster.adminToken);
  });
  afterAll(async () => {
    await Promise.allSettled(extraProcesses.map((p) => killHard(p)));
    await cluster?.stop();
  });

  describe('key files', () => {
    it('are generated on first start: three files of mode 0600 in a data directory of mode 0700', () => {
      const dir = join(cluster.root, 'controller');
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      for (const file of ['cluster-secret', 'admin-token', 'grant-key.pem']) {
        expect({ file, mode: (statSync(join(dir, file)).mode & 0o777).toString(8) }).toEqual({ file, mode: '600' });
      }
      expect(clusterSecret.length).toBeGreaterThanOrEqual(32);
      expect(cluster.adminToken.length).toBeGreaterThanOrEqual(32);
      expect(grantKey.asymmetricKeyType).toBe('ed25519');
    });
  });

  describe('cluster membership', () => {
    it('a node with a wrong cluster secret never joins', async () => {
      const wrongSecret = randomBytes(32).toString('hex');
      secrets.set('wrong cluster secret', wrongSecret);
      const intruder = spawnNode('wrong-secret-node', [], { CAIRN_CLUSTER_SECRET: wrongSecret });
      // The node checks the controller's proof first, sees it cannot be right, and never registers.
      await waitForLog(intruder, (e) => e['code'] === 'E_AUTH' && /cluster secret/.test(String(e['msg'])));
      const id = readFileSync(join(cluster.root, 'wrong-secret-node', 'node-id'), 'utf8').trim();
      // It keeps retrying (with backoff); it is never listed, whatever it tries.
      await new Promise((r) => setTimeout(r, 1_500));
      expect(await nodeIds()).not.toContain(id);
      expect(intruder.lines.filter((l) => /registered with the controller/.test(l))).toEqual([]);
      await killHard(intruder);
    });

    // KNOWN GAP (issue 4: "a node without it is refused and logged"): the refused node logs why, but the
    // controller logs nothing, because the node checks the controller's proof first, gives up and never
    // sends node.register (AccessControl.verifyNode is where the refusal is logged). An operator watching
    // the controller does not see a misconfigured node. Remove `.failing` once the controller logs a
    // handshake abandoned after node.hello.
    it('the controller logs a node that tried to join with a wrong cluster secret', async () => {
      const intruder = spawnNode('wrong-secret-node-2', [], { CAIRN_CLUSTER_SECRET: randomBytes(32).toString('hex') });
      try {
        await waitForLog(intruder, (e) => e['code'] === 'E_AUTH' && /cluster secret/.test(String(e['msg'])));
        const id = readFileSync(join(cluster.root, 'wrong-secret-node-2', 'node-id'), 'utf8').trim();
        await waitForLog(cluster.controller, (e) => JSON.stringify(e).includes(id), 3_000);
      } finally {
        await killHard(intruder);
      }
    });

    it('a node without any cluster secret exits with a clear message', async () => {
      const lost = spawnNode('no-secret-node', ['--cluster-secret-file', join(cluster.root, 'nowhere', 'cluster-secret')]);
      const { code } = await lost.exited;
      expect(code).not.toBe(0);
      const output = lost.lines.join('\n');
      expect(output).toMatch(/no cluster secret/);
      expect(output).not.toMatch(/^\s+at /m); // a message, not a stack trace
    });

    it('a handshake with a wrong proof is refused with E_AUTH and logged; the secret never crosses the wire', async () => {
      const peer = await rawPeer(cluster.controllerAddress, { localAddress: '127.0.0.2' });
      try {
        const nodeId = 'intruder-wrong-proof';
        const nodeNonce = randomBytes(NONCE_BYTES).toString('hex');
        const challenge = expectFrameType(await peer.request('node.hello', { nodeId, nonce: nodeNonce }), 'node.challenge').body;
        expect(JSON.stringify(challenge)).not.toContain(clusterSecret);
        const transcript = { nodeId, nodeNonce, controllerNonce: challenge.nonce, grantPublicKey: challenge.grantPublicKey };
        // Our transcript is the real one: the controller's own proof over it checks out with the real secret.
        expect(proofsEqual(controllerProof(clusterSecret, transcript), challenge.proof)).toBe(true);
        const register = (proof: string) =>
          peer.request('node.register', { nodeId, address: '127.0.0.1:1', zone: null, capacity: 1 << 30, used: 0, chunks: 0, proof });

        expect(await errorCode(() => register(nodeProof('not-the-cluster-secret', transcript)))).toBe('E_AUTH');
        await waitForLog(cluster.controller, (e) => e['node'] === nodeId && /node refused/.test(String(e['msg'])));
        // A challenge is answered once: even the right proof is refused on it now.
        expect(await errorCode(() => register(nodeProof(clusterSecret, transcript)))).toBe('E_AUTH');
        // Node-only requests on a connection that did not complete the handshake.
        expect(await errorCode(() => peer.request('node.heartbeat', { capacity: 1, used: 0, chunks: 0 }))).toBe('E_AUTH');
        expect(await errorCode(() => peer.request('node.report', { hashes: [], first: true, done: true }))).toBe('E_AUTH');
      } finally {
        peer.close();
      }

      const reflector = await rawPeer(cluster.controllerAddress, { localAddress: '127.0.0.2' });
      try {
        const nodeId = 'intruder-reflect';
        const challenge = expectFrameType(
          await reflector.request('node.hello', { nodeId, nonce: randomBytes(NONCE_BYTES).toString('hex') }),
          'node.challenge',
        ).body;
        // The controller's proof sent back as the node's: refused (the two proofs carry different role labels).
        expect(
          await errorCode(() =>
            reflector.request('node.register', { nodeId, address: '127.0.0.1:1', zone: null, capacity: 1, used: 0, chunks: 0, proof: challenge.proof }),
          ),
        ).toBe('E_AUTH');
      } finally {
        reflector.close();
      }
      const skipper = await rawPeer(cluster.controllerAddress, { localAddress: '127.0.0.2' });
      try {
        // node.register without node.hello first.
        const proof = '0'.repeat(64);
        expect(
          await errorCode(() => skipper.request('node.register', { nodeId: 'intruder-no-hello', address: '127.0.0.1:1', zone: null, capacity: 1, used: 0, chunks: 0, proof })),
        ).toBe('E_AUTH');
      } finally {
        skipper.close();
      }
      expect(await nodeIds()).toEqual(expect.not.arrayContaining(['intruder-wrong-proof', 'intruder-reflect', 'intruder-no-hello']));
    });

    it('a replayed handshake (a proof recorded from an earlier challenge) is refused', async () => {
      const nodeId = 'intruder-replay';
      const nodeNonce = randomBytes(NONCE_BYTES).toString('hex');
      const first = await rawPeer(cluster.controllerAddress, { localAddress: '127.0.0.2' });
      const second = await rawPeer(cluster.controllerAddress, { localAddress: '127.0.0.2' });
      try {
        // What an eavesdropper saw of a real node's handshake: hello, challenge, and the node's valid proof.
        const seen = expectFrameType(await first.request('node.hello', { nodeId, nonce: nodeNonce }), 'node.challenge').body;
        const recordedProof = nodeProof(clusterSecret, { nodeId, nodeNonce, controllerNonce: seen.nonce, grantPublicKey: seen.grantPublicKey });
        // The replay: same hello (same node nonce), then the recorded proof. The controller's nonce is fresh.
        const replayed = expectFrameType(await second.request('node.hello', { nodeId, nonce: nodeNonce }), 'node.challenge').body;
        expect(replayed.nonce).not.toBe(seen.nonce);
        expect(
          await errorCode(() =>
            second.request('node.register', { nodeId, address: '127.0.0.1:1', zone: null, capacity: 1, used: 0, chunks: 0, proof: recordedProof }),
          ),
        ).toBe('E_AUTH');
        await waitForLog(cluster.controller, (e) => e['node'] === nodeId && /node refused/.test(String(e['msg'])));
      } finally {
        first.close();
        second.close();
      }
      expect(await nodeIds()).not.toContain(nodeId);
    });
  });

  describe('client tokens', () => {
    it('a wrong or missing token is refused with E_AUTH, and nothing is written', async () => {
      const content = randomBytes(3000);
      const wellFormed = `cairn_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
      for (const token of [wellFormed, 'not-a-cairn-token-at-all']) {
        const put = await cli(['put', '-', 'denied/wrong.bin'], { token, input: content });
        expect({ code: put.code, stderr: put.stderr }).toEqual({ code: 4, stderr: expect.stringMatching(/\(E_AUTH\)\n$/) });
      }
      // No token at all: CAIRN_TOKEN empty and no local cluster's admin token to fall back on.
      const none = await cli(['put', '-', 'denied/none.bin'], { token: '', input: content });
      expect({ code: none.code, stderr: none.stderr }).toEqual({ code: 4, stderr: expect.stringMatching(/\(E_AUTH\)\n$/) });

      // On the wire: nothing but session.auth (or the node handshake) is served before authenticating.
      const anonymous = await rawPeer(cluster.controllerAddress, { localAddress: '127.0.0.2' });
      try {
        expect(await errorCode(() => anonymous.request('upload.begin', { name: 'denied/raw.bin' }))).toBe('E_AUTH');
        expect(await errorCode(() => anonymous.request('file.list', { prefix: '', limit: 10 }))).toBe('E_AUTH');
        expect(await errorCode(() => anonymous.request('token.create', { scope: 'admin' }))).toBe('E_AUTH');
        expect(await errorCode(() => anonymous.request('nodes.list', {}))).toBe('E_AUTH');
      } finally {
        anonymous.close();
      }
      expect(await names('denied/')).toEqual([]);
      expect(await cluster.chunkFiles(sha256(content))).toEqual([]);
    });

    it('a read token reads, but cannot put, rm, drain or manage tokens (E_FORBIDDEN); nothing is written', async () => {
      const original = randomBytes(5000);
      expect((await cli(['put', '-', 'shared/readme.bin'], { input: original })).code).toBe(0);
      const { token } = await createToken('read');

      const cat = await cli(['cat', 'shared/readme.bin'], { token });
      expect(cat.code).toBe(0);
      expect(sha256(cat.stdout)).toBe(sha256(original));
      expect(await names('shared/')).toEqual(['shared/readme.bin']);

      const attempt = randomBytes(4000);
      const refusals: Array<[string, string[], Buffer?]> = [
        ['put', ['put', '-', 'shared/new.bin'], attempt],
        ['replace', ['put', '-', 'shared/readme.bin'], attempt],
        ['rm', ['rm', 'shared/readme.bin']],
        ['token create', ['token', 'create', '--scope', 'read']],
        ['token list', ['token', 'list']],
        ['drain', ['drain', cluster.nodes[0].id]],
      ];
      for (const [what, args, input] of refusals) {
        const result = await cli(args, { token, input });
        expect({ what, code: result.code, stderr: result.stderr }).toEqual({ what, code: 4, stderr: expect.stringMatching(/\(E_FORBIDDEN\)\n$/) });
      }
      expect(await names('shared/')).toEqual(['shared/readme.bin']);
      expect(sha256((await cli(['cat', 'shared/readme.bin'])).stdout)).toBe(sha256(original));
      expect(await cluster.chunkFiles(sha256(attempt))).toEqual([]);
      expect((await cluster.sdk.nodesInfo()).every((n) => n.state === 'alive')).toBe(true);
    });

    it('a write token with a prefix touches only names under it, and ls is narrowed to it', async () => {
      const theirs = randomBytes(2000);
      expect((await cli(['put', '-', 'team-b/secret.bin'], { input: theirs })).code).toBe(0);
      const { token } = await createToken('write', 'team-a/');

      const mine = randomBytes(2500);
      expect((await cli(['put', '-', 'team-a/mine.bin'], { token, input: mine })).code).toBe(0);
      expect(sha256((await cli(['cat', 'team-a/mine.bin'], { token })).stdout)).toBe(sha256(mine));
      expect((await cli(['stat', 'team-a/mine.bin', '--json'], { token })).code).toBe(0);

      const outside = randomBytes(2200);
      const refusals: Array<[string, string[], Buffer?]> = [
        ['put outside', ['put', '-', 'team-b/intruder.bin'], outside],
        ['put top level', ['put', '-', 'intruder.bin'], outside],
        ['overwrite', ['put', '-', 'team-b/secret.bin'], outside],
        ['cat', ['cat', 'team-b/secret.bin']],
        ['get', ['get', 'team-b/secret.bin', join(cluster.root, 'stolen.bin')]],
        ['stat', ['stat', 'team-b/secret.bin']],
        ['rm', ['rm', 'team-b/secret.bin']],
        ['token create', ['token', 'create', '--scope', 'write', '--prefix', 'team-b/']],
      ];
      for (const [what, args, input] of refusals) {
        const result = await cli(args, { token, input });
        expect({ what, code: result.code, stderr: result.stderr }).toEqual({ what, code: 4, stderr: expect.stringMatching(/\(E_FORBIDDEN\)\n$/) });
      }
      const ls = async (prefix: string) => (json(await cli(['ls', prefix, '--json'], { token })) as Array<{ name: string }>).map((f) => f.name);
      expect(await ls('')).toEqual(['team-a/mine.bin']);
      expect(await ls('team')).toEqual(['team-a/mine.bin']);
      expect(await ls('team-b/')).toEqual([]);
      expect(await ls('shared/')).toEqual([]);

      expect((await cli(['rm', 'team-a/mine.bin'], { token })).code).toBe(0);
      expect(await names('team-')).toEqual(['team-b/secret.bin']);
      expect(sha256((await cli(['cat', 'team-b/secret.bin'])).stdout)).toBe(sha256(theirs));
      expect(await cluster.chunkFiles(sha256(outside))).toEqual([]);
    });

    // Invariant 6: the controller records a chunk of an upload only with each node's receipt (a MAC over
    // node, hash and upload id that only a node holding the cluster secret can make, and only after it
    // stored the bytes under this upload's grant). A writer that claims another tenant's chunk is refused.
    it('a writer cannot read another prefix by committing a manifest of chunks it never uploaded', async () => {
      const secret = randomBytes(3000);
      expect((await cli(['put', '-', 'team-b/small-secret.bin'], { input: secret })).code).toBe(0);
      const leaked = json(await cli(['stat', 'team-b/small-secret.bin', '--json'])) as { size: number; sha256: string; chunks: Array<{ hash: string; size: number }> };
      const { token } = await createToken('write', 'team-a/');
      const thief = cluster.client(token);
      const peer = await rawPeer(cluster.controllerAddress);
      try {
        expectFrameType(await peer.request('session.auth', { token }), 'session.info');
        const { uploadId } = expectFrameType(await peer.request('upload.begin', { name: 'team-a/stolen.bin' }), 'upload.begun').body;
        const nodes = cluster.nodes.map((n) => n.id);
        const claimed = { index: 0, hash: leaked.chunks[0].hash, size: leaked.chunks[0].size, nodes, receipts: nodes.map(() => 'f'.repeat(64)) };
        const outcome = await peer
          .request('upload.stored', { uploadId, chunks: [claimed] })
          .then(() => peer.request('upload.commit', { uploadId, size: leaked.size, sha256: leaked.sha256, chunkCount: 1 }))
          .then(() => 'committed', (err: { code?: string }) => err.code);
        expect(outcome).toBe('E_UPLOAD_INVALID');

        // Resumable puts place a chunk on the nodes that hold it and let the client claim it there,
        // but only with a proof of possession (an HMAC of the bytes keyed by the fresh grant).
        const { placements } = expectFrameType(
          await peer.request('upload.place', { uploadId, chunks: [{ index: 0, hash: claimed.hash, size: claimed.size }] }),
          'upload.placed',
        ).body;
        const [placement] = placements;
        expect(placement.held?.length).toBeGreaterThan(0);
        const holder = placement.nodes.find((n) => placement.held?.includes(n.id));
        const node = await rawPeer(holder?.address ?? '');
        try {
          const claim = { hash: claimed.hash, grant: placement.grant, proof: claimProof(placement.grant, randomBytes(claimed.size)) };
          expect(await errorCode(() => node.request('chunk.claim', claim))).toBe('E_FORBIDDEN');
        } finally {
          node.close();
        }
      } finally {
        peer.close();
      }
      expect(await errorCode(() => readAll(thief, 'team-a/stolen.bin'))).toBe('E_NOT_FOUND');
    });

    it("an upload id is no capability: another prefix's writer cannot place, record, commit or abort it", async () => {
      const owner = await createToken('write', 'team-a/');
      const other = await createToken('write', 'team-b/');
      const a = await rawPeer(cluster.controllerAddress);
      const b = await rawPeer(cluster.controllerAddress);
      try {
        expectFrameType(await a.request('session.auth', { token: owner.token }), 'session.info');
        expectFrameType(await b.request('session.auth', { token: other.token }), 'session.info');
        const { uploadId } = expectFrameType(await a.request('upload.begin', { name: 'team-a/mine.bin' }), 'upload.begun').body;
        const hash = 'a'.repeat(64);
        expect(await errorCode(() => b.request('upload.place', { uploadId, chunks: [{ index: 0, hash, size: 1 }] }))).toBe('E_FORBIDDEN');
        expect(await errorCode(() => b.request('upload.stored', { uploadId, chunks: [{ index: 0, hash, size: 1, nodes: ['n'], receipts: ['f'.repeat(64)] }] }))).toBe('E_FORBIDDEN');
        expect(await errorCode(() => b.request('upload.commit', { uploadId, size: 0, sha256: hash, chunkCount: 0 }))).toBe('E_FORBIDDEN');
        expect(await errorCode(() => b.request('upload.abort', { uploadId }))).toBe('E_FORBIDDEN');
        // still the owner's: it commits (as an empty file)
        const empty = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
        expectFrameType(await a.request('upload.commit', { uploadId, size: 0, sha256: empty, chunkCount: 0 }), 'file.info');
      } finally {
        a.close();
        b.close();
      }
    });

    it("a prepared upload is its connection's alone, and its commit names a file under the token's prefix", async () => {
      const writer = await createToken('write', 'team-a/');
      const a = await rawPeer(cluster.controllerAddress);
      const b = await rawPeer(cluster.controllerAddress);
      const data = randomBytes(3000);
      const hash = sha256(data);
      try {
        for (const peer of [a, b]) expectFrameType(await peer.request('session.auth', { token: writer.token }), 'session.info');
        const prepareSent = Date.now();
        const { uploads, usableMs } = expectFrameType(await a.request('upload.prepare', { count: 2 }), 'upload.prepared').body;
        const [first] = uploads;
        // Its grant lives about as long as the upload may be committed, not the 10 minutes of others.
        const { exp } = JSON.parse(Buffer.from(first.grant.split('.')[0], 'base64url').toString('utf8')) as { exp: number };
        expect(exp - prepareSent).toBeLessThanOrEqual(usableMs + 10_000);
        const receipts = [];
        for (const node of first.nodes) {
          const peer = await rawPeer(node.address);
          try {
            receipts.push(expectFrameType(await peer.putChunk(hash, data, first.grant), 'chunk.stored').body.receipt);
          } finally {
            peer.close();
          }
        }
        const chunks = [{ index: 0, hash, size: data.length, nodes: first.nodes.map((n) => n.id), receipts: receipts as string[] }];
        const commit = (name?: string) => ({ uploadId: first.uploadId, name, size: data.length, sha256: hash, chunkCount: 1, chunks });
        // The same token on another connection does not make it theirs.
        expect(await errorCode(() => b.request('upload.commit', commit('team-a/prepared.bin')))).toBe('E_UPLOAD_INVALID');
        expect(await errorCode(() => b.request('upload.abort', { uploadId: first.uploadId }))).toBe('E_UPLOAD_INVALID');
        expect(await errorCode(() => b.request('upload.place', { uploadId: first.uploadId, chunks: [{ index: 0, hash, size: data.length }] }))).toBe('E_UPLOAD_INVALID');
        // Its commit must name the file, under the token's prefix.
        expect(await errorCode(() => a.request('upload.commit', commit('team-b/prepared.bin')))).toBe('E_FORBIDDEN');
        expect(await errorCode(() => a.request('upload.commit', commit()))).toBe('E_UPLOAD_INVALID');
        expect(expectFrameType(await a.request('upload.commit', commit('team-a/prepared.bin')), 'file.info').body.file.name).toBe('team-a/prepared.bin');
        expect(sha256(await readAll(cluster.sdk, 'team-a/prepared.bin'))).toBe(hash);
      } finally {
        a.close();
        b.close();
      }
      expect(await names('team-a/prepared')).toEqual(['team-a/prepared.bin']);
    });

    it(`a writer cannot hold chunks without end: at most ${MAX_UPLOAD_HOLDS} placed and not recorded (E_UPLOAD_INVALID)`, async () => {
      // A placement holds its chunks against GC with no proof of possession, so an upload may hold
      // only so many it has not recorded: naming other tenants' removed chunks cannot keep them forever.
      const writer = await createToken('write', 'holds/');
      const peer = await rawPeer(cluster.controllerAddress);
      try {
        expectFrameType(await peer.request('session.auth', { token: writer.token }), 'session.info');
        const { uploadId } = expectFrameType(await peer.request('upload.begin', { name: 'holds/forever.bin' }), 'upload.begun').body;
        const chunks = (from: number, count: number) =>
          Array.from({ length: count }, (_, i) => ({ index: from + i, hash: sha256(Buffer.from(`hold-${from + i}`)), size: 1 }));
        for (let from = 0; from < MAX_UPLOAD_HOLDS; from += MAX_PAGE) {
          const page = chunks(from, Math.min(MAX_PAGE, MAX_UPLOAD_HOLDS - from));
          const placed = expectFrameType(await peer.request('upload.place', { uploadId, chunks: page }, { timeoutMs: 60_000 }), 'upload.placed');
          expect(placed.body.placements).toHaveLength(page.length);
        }
        expect(await errorCode(() => peer.request('upload.place', { uploadId, chunks: chunks(MAX_UPLOAD_HOLDS, 1) }))).toBe('E_UPLOAD_INVALID');
        expectFrameType(await peer.request('upload.abort', { uploadId }), 'ack');
      } finally {
        peer.close();
      }
    });

    it('a revoked token stops working at once, also on connections already open', async () => {
      const { id, token } = await createToken('write');
      const sdk = cluster.client(token);
      await sdk.put('revoke/before.bin', randomBytes(1000));
      const open = await rawPeer(cluster.controllerAddress);
      expectFrameType(await open.request('session.auth', { token }), 'session.info');

      expect((await cli(['token', 'revoke', id])).code).toBe(0);
      // The controller closes every connection that authenticated with it, without waiting for a request.
      const closedInTime = await Promise.race([open.closed.then(() => true), new Promise((r) => setTimeout(() => r(false), 2_000))]);
      expect(closedInTime).toBe(true);
      expect(await errorCode(() => open.request('file.list', { prefix: '', limit: 10 }))).toBe('E_UNAVAILABLE');

      // The SDK's open connection was closed under it; its next calls fail (and reconnecting is refused).
      const next = await errorCode(() => sdk.put('revoke/after.bin', randomBytes(1000)));
      expect(['E_AUTH', 'E_UNAVAILABLE']).toContain(next);
      expect(await errorCode(() => sdk.put('revoke/after.bin', randomBytes(1000)))).toBe('E_AUTH');
      const cliAfter = await cli(['ls'], { token });
      expect({ code: cliAfter.code, stderr: cliAfter.stderr }).toEqual({ code: 4, stderr: expect.stringMatching(/\(E_AUTH\)\n$/) });

      const listed = json(await cli(['token', 'list', '--json'])) as Array<{ id: string; revokedAt: number | null }>;
      expect(listed.find((t) => t.id === id)?.revokedAt).toEqual(expect.any(Number));
      expect((await cli(['token', 'revoke', '0123456789abcdef'])).code).toBe(3); // E_NOT_FOUND
      expect(await names('revoke/')).toEqual(['revoke/before.bin']);
    });

    it('a get under way when its token is revoked stops with E_AUTH, without the chunks it had not fetched yet', async () => {
      const body = randomBytes(64 * 1024 * 1024); // 16 chunks: twice the SDK's window ahead of its reader
      await cluster.sdk.put('revoke/big.bin', body);
      const { id, token } = await createToken('read', 'revoke/');
      const sdk = cluster.client(token);
      try {
        const reading = sdk.read('revoke/big.bin');
        const first = await reading.next(); // under way: its chunks' grant handed out, the next chunks in flight
        expect(first.done).toBe(false);
        expect((await cli(['token', 'revoke', id])).code).toBe(0);
        let received = (first.value as Buffer).length;
        const outcome = await (async () => {
          try {
            for await (const chunk of reading) received += chunk.length;
            return 'read to the end';
          } catch (err) {
            return (err as { code?: string }).code;
          }
        })();
        expect(outcome).toBe('E_AUTH');
        expect(received).toBeLessThan(body.length);
      } finally {
        await sdk.close();
      }
    });

    it('a token prefix must be a start some name can have, and not empty: no token is minted otherwise', async () => {
      for (const prefix of ['', '/abs/', 'a/../b/']) {
        const refused = await cli(['token', 'create', '--scope', 'write', '--prefix', prefix]);
        expect({ code: refused.code, stderr: refused.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/\(E_NAME_INVALID\)\n$/) });
      }
      // Past the CLI's own check, the controller refuses it too.
      const peer = await rawPeer(cluster.controllerAddress);
      try {
        expectFrameType(await peer.request('session.auth', { token: cluster.adminToken }), 'session.info');
        expect(await errorCode(() => peer.request('token.create', { scope: 'write', prefix: '' }))).toBe('E_NAME_INVALID');
      } finally {
        peer.close();
      }
      const listed = json(await cli(['token', 'list', '--json'])) as Array<{ prefix: string | null }>;
      expect(listed.map((t) => t.prefix)).not.toContain('');
    });

    it('after 10 failed authentications an address is refused for the minute, even with a good token; other addresses are not', async () => {
      const peer = await rawPeer(cluster.controllerAddress, { localAddress: '127.0.0.3' });
      try {
        for (let i = 0; i < 10; i++) {
          const bad = `cairn_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
          expect(await errorCode(() => peer.request('session.auth', { token: bad }))).toBe('E_AUTH');
        }
        // The 11th attempt carries the admin token: refused all the same.
        expect(await errorCode(() => peer.request('session.auth', { token: cluster.adminToken }))).toBe('E_AUTH');
        expect(await errorCode(() => peer.request('file.list', { prefix: '', limit: 1 }))).toBe('E_AUTH');
      } finally {
        peer.close();
      }
      const fresh = await rawPeer(cluster.controllerAddress, { localAddress: '127.0.0.3' });
      try {
        expect(await errorCode(() => fresh.request('session.auth', { token: cluster.adminToken }))).toBe('E_AUTH');
        expect(await errorCode(() => fresh.request('node.hello', { nodeId: 'from-blocked', nonce: randomBytes(32).toString('hex') }))).toBe('E_AUTH');
      } finally {
        fresh.close();
      }
      // 127.0.0.1 is another address: its clients carry on.
      const ok = await rawPeer(cluster.controllerAddress);
      try {
        expect(expectFrameType(await ok.request('session.auth', { token: cluster.adminToken }), 'session.info').body.scope).toBe('admin');
      } finally {
        ok.close();
      }
      expect((await cli(['ls', 'shared/'])).code).toBe(0);
    });
  });

  describe('chunk grants', () => {
    const exp = () => Date.now() + 60_000;
    const forgedKey = generateKeyPairSync('ed25519').privateKey;
    /** Keeps the signature of `grant` but swaps in another payload. */
    const tamper = (grant: string, payload: object) => `${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${grant.split('.')[1]}`;

    it('chunk.put needs a put grant signed by the controller for that chunk and that node (E_FORBIDDEN, nothing written)', async () => {
      const [node, other] = cluster.nodes;
      const payload = randomBytes(4096);
      const hash = sha256(payload);
      const otherHash = sha256(randomBytes(16));
      const peer = await rawPeer(`127.0.0.1:${node.port}`);
      try {
        const refused: Array<[string, string]> = [
          ['no grant', ''],
          ['malformed', 'not.a-grant'],
          ['forged (another Ed25519 key)', signGrant(forgedKey, { op: 'put', hashes: [hash], nodes: [node.id], exp: exp() })],
          ['expired', signGrant(grantKey, { op: 'put', hashes: [hash], nodes: [node.id], exp: Date.now() - 1_000 })],
          ['for another chunk', signGrant(grantKey, { op: 'put', hashes: [otherHash], nodes: [node.id], exp: exp() })],
          ['for another node', signGrant(grantKey, { op: 'put', hashes: [hash], nodes: [other.id], exp: exp() })],
          ['without nodes', signGrant(grantKey, { op: 'put', hashes: [hash], exp: exp() })],
          ['a get grant', signGrant(grantKey, { op: 'get', hashes: [hash], exp: exp() })],
          ['tampered', tamper(signGrant(grantKey, { op: 'put', hashes: [otherHash], nodes: [node.id], exp: exp() }), { op: 'put', hashes: [hash], nodes: [node.id], exp: exp() })],
        ];
        for (const [what, grant] of refused) {
          expect({ what, code: await errorCode(() => peer.putChunk(hash, payload, grant)) }).toEqual({ what, code: 'E_FORBIDDEN' });
        }
        expect(await cluster.chunkFiles(hash)).toEqual([]);

        // The control: the same chunk with a grant the controller would have given is stored.
        const stored = expectFrameType(await peer.putChunk(hash, payload, signGrant(grantKey, { op: 'put', hashes: [hash], nodes: [node.id], exp: exp() })), 'chunk.stored');
        expect(stored.body).toEqual({ hash, size: payload.length, stored: true });
        expect((await cluster.chunkFiles(hash)).map((f) => f.node.id)).toEqual([node.id]);
      } finally {
        peer.close();
      }
    });

    it("a prepared upload's grant lets each of its nodes take one chunk up to its size: no second one, no bigger one, no claim, no read", async () => {
      const [node, other] = cluster.nodes;
      const grant = signGrant(grantKey, { op: 'put', bytes: 4096, nodes: [node.id], upload: 'prepared-grant-test', exp: exp() });
      const peer = await rawPeer(`127.0.0.1:${node.port}`);
      try {
        const big = randomBytes(4097);
        expect(await errorCode(() => peer.putChunk(sha256(big), big, grant))).toBe('E_FORBIDDEN');
        expect(await cluster.chunkFiles(sha256(big))).toEqual([]);
        const small = randomBytes(4096);
        const hash = sha256(small);
        const stored = expectFrameType(await peer.putChunk(hash, small, grant), 'chunk.stored').body;
        expect(stored).toMatchObject({ hash, size: 4096, stored: true });
        expect(stored.receipt).toMatch(/^[0-9a-f]{64}$/);
        // One chunk per grant: the same again (a retry) is taken, another is not.
        expect(expectFrameType(await peer.putChunk(hash, small, grant), 'chunk.stored').body).toMatchObject({ hash, stored: false });
        const second = randomBytes(100);
        expect(await errorCode(() => peer.putChunk(sha256(second), second, grant))).toBe('E_FORBIDDEN');
        expect(await cluster.chunkFiles(sha256(second))).toEqual([]);
        expect(await errorCode(() => peer.request('chunk.claim', { hash, grant, proof: claimProof(grant, small) }))).toBe('E_FORBIDDEN');
        expect(await errorCode(() => peer.request('chunk.get', { hash, grant }))).toBe('E_FORBIDDEN');
      } finally {
        peer.close();
      }
      const elsewhere = await rawPeer(`127.0.0.1:${other.port}`);
      try {
        const data = randomBytes(10);
        expect(await errorCode(() => elsewhere.putChunk(sha256(data), data, grant))).toBe('E_FORBIDDEN');
      } finally {
        elsewhere.close();
      }
    });

    it('chunk.get and chunk.has need a get grant covering the chunk (E_FORBIDDEN, nothing read)', async () => {
      const content = randomBytes(20_000);
      expect((await cli(['put', '-', 'grants/file.bin'], { input: content })).code).toBe(0);
      const stat = json(await cli(['stat', 'grants/file.bin', '--json'])) as { chunks: Array<{ hash: string; nodes: string[] }> };
      const { hash, nodes } = stat.chunks[0];
      const holder = cluster.nodes.find((n) => n.id === nodes[0]);
      if (!holder) throw new Error('no holder');
      const otherHash = sha256(randomBytes(16));
      const peer = await rawPeer(`127.0.0.1:${holder.port}`);
      try {
        const refused: Array<[string, string]> = [
          ['malformed', 'x'],
          ['forged', signGrant(forgedKey, { op: 'get', hashes: [hash], exp: exp() })],
          ['expired', signGrant(grantKey, { op: 'get', hashes: [hash], exp: Date.now() - 1_000 })],
          ['for another chunk', signGrant(grantKey, { op: 'get', hashes: [otherHash], exp: exp() })],
          ['a put grant', signGrant(grantKey, { op: 'put', hashes: [hash], nodes: [holder.id], exp: exp() })],
          ['tampered', tamper(signGrant(grantKey, { op: 'get', hashes: [otherHash], exp: exp() }), { op: 'get', hashes: [hash], exp: exp() })],
        ];
        for (const [what, grant] of refused) {
          expect({ what, get: await errorCode(() => peer.request('chunk.get', { hash, grant })) }).toEqual({ what, get: 'E_FORBIDDEN' });
          expect({ what, has: await errorCode(() => peer.request('chunk.has', { hashes: [hash], grant })) }).toEqual({ what, has: 'E_FORBIDDEN' });
        }
        // A grant for one chunk does not open another asked alongside it.
        const onlyFirst = signGrant(grantKey, { op: 'get', hashes: [hash], exp: exp() });
        expect(await errorCode(() => peer.request('chunk.has', { hashes: [hash, otherHash], grant: onlyFirst }))).toBe('E_FORBIDDEN');

        // The control: with a real grant the node serves the chunk.
        const data = expectFrameType(await peer.request('chunk.get', { hash, grant: onlyFirst }), 'chunk.data');
        expect(sha256(data.payload)).toBe(hash);
        expect(expectFrameType(await peer.request('chunk.has', { hashes: [hash], grant: onlyFirst }), 'chunk.present').body.present).toEqual([true]);
      } finally {
        peer.close();
      }
    });

    it("a node's port does not take the controller's orders (delete, replicate, check) from anyone else", async () => {
      const stat = json(await cli(['stat', 'grants/file.bin', '--json'])) as { sha256: string; chunks: Array<{ hash: string; nodes: string[] }> };
      const { hash, nodes } = stat.chunks[0];
      const holder = cluster.nodes.find((n) => n.id === nodes[0]);
      const other = cluster.nodes.find((n) => n.id !== nodes[0]);
      if (!holder || !other) throw new Error('no holder');
      const before = (await cluster.chunkFiles(hash)).length;
      const peer = await rawPeer(`127.0.0.1:${holder.port}`);
      try {
        const grant = signGrant(grantKey, { op: 'get', hashes: [hash], exp: exp() });
        expect(await errorCode(() => peer.request('chunk.delete', { hashes: [hash], minAgeMs: 0 }))).toBe('E_UNKNOWN_TYPE');
        expect(await errorCode(() => peer.request('chunk.check', { hash }))).toBe('E_UNKNOWN_TYPE');
        expect(
          await errorCode(() => peer.request('chunk.replicate', { hash, size: 1, source: { id: other.id, address: `127.0.0.1:${other.port}` }, grant })),
        ).toBe('E_UNKNOWN_TYPE');
      } finally {
        peer.close();
      }
      expect((await cluster.chunkFiles(hash)).length).toBe(before);
      expect(sha256((await cli(['cat', 'grants/file.bin'])).stdout)).toBe(stat.sha256);
    });
  });

  it("the controller's dashboard API and /metrics need the admin token (401 without it, 403 for a valid token short of it)", async () => {
    const paths = ['/api/files', '/api/overview', '/metrics'];
    const { token: readToken } = await createToken('read');
    for (const [who, authorization] of [
      ['no token', undefined],
      ['a wrong token', 'Bearer cairn_0123456789abcdef_' + 'A'.repeat(43)],
      ['the admin token without "Bearer"', cluster.adminToken],
    ] as const) {
      const statuses = await Promise.all(paths.map((path) => httpGetStatus(cluster.controllerPort, path, authorization)));
      expect({ who, statuses }).toEqual({ who, statuses: [401, 401, 401] });
    }
    const { token: adminScoped } = await createToken('admin');
    for (const [who, authorization] of [
      ['a read token', `Bearer ${readToken}`],
      ['an admin-scoped token made with token create', `Bearer ${adminScoped}`],
    ] as const) {
      const statuses = await Promise.all(paths.map((path) => httpGetStatus(cluster.controllerPort, path, authorization)));
      expect({ who, statuses }).toEqual({ who, statuses: [403, 403, 403] });
    }
    const allowed = await Promise.all(paths.map((path) => httpGetStatus(cluster.controllerPort, path, `Bearer ${cluster.adminToken}`)));
    expect(allowed).toEqual([200, 200, 200]);
    expect(await httpGetStatus(cluster.controllerPort, '/healthz')).toBe(200); // probes never need a token
  });

  describe('TLS with a private CA', () => {
    it('nodes join over wss://, the CLI round-trips with --ca, and a client that does not trust the CA is refused', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'cairn-tls-'));
      let tlsCluster: TestCluster | undefined;
      try {
        const ca = await makeTestCa(dir);
        tlsCluster = await TestCluster.start({ nodes: 2, replicas: 2, tls: ca });
        const nodes = JSON.parse((await tlsCluster.cli(['nodes', '--json'])).stdout.toString()) as Array<{ address: string; state: string }>;
        expect(nodes.map((n) => [n.address.startsWith('wss://127.0.0.1:'), n.state])).toEqual([
          [true, 'alive'],
          [true, 'alive'],
        ]);

        const src = join(dir, 'secret.bin');
        const content = randomBytes(1_500_000);
        await writeFile(src, content);
        const put = await tlsCluster.cli(['put', src, 'tls/secret.bin']);
        expect({ code: put.code, stderr: put.stderr }).toEqual({ code: 0, stderr: '' });
        const back = join(dir, 'back.bin');
        expect((await tlsCluster.cli(['get', 'tls/secret.bin', back])).code).toBe(0);
        expect(sha256(await readFile(back))).toBe(sha256(content));

        // https:// on the same port, with the CA.
        expect(await httpsStatus(`https://127.0.0.1:${tlsCluster.controllerPort}/healthz`, readFileSync(ca.ca))).toBe(200);

        // A client that does not trust the CA, and one that speaks plain ws:// to the TLS port.
        const env = { CAIRN_TOKEN: tlsCluster.adminToken };
        for (const controller of [tlsCluster.controllerAddress, `127.0.0.1:${tlsCluster.controllerPort}`]) {
          const refused = await runCli(['--controller', controller, 'ls'], { cwd: dir, env });
          expect({ controller, code: refused.code, stderr: refused.stderr }).toEqual({ controller, code: 5, stderr: expect.stringMatching(/\(E_UNAVAILABLE\)\n$/) });
        }
        // A node that does not trust the CA cannot join either.
        const untrusting = spawnProcess(MAIN.node, [
          '--host', '127.0.0.1', '--port', '0', '--data', join(dir, 'untrusting'), '--controller', tlsCluster.controllerAddress,
          '--cluster-secret-file', tlsCluster.secretFile, '--tls-cert', ca.cert, '--tls-key', ca.key,
        ]);
        try {
          await waitForLog(untrusting, (e) => e['code'] === 'E_UNAVAILABLE' && /controller link/.test(String(e['msg'])));
          expect(untrusting.lines.filter((l) => /registered with the controller/.test(l))).toEqual([]);
        } finally {
          await killHard(untrusting);
        }
      } finally {
        await tlsCluster?.stop();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('secrets stay secret', () => {
    it('a whole session (start, join, put, get, token create) leaks no secret into any log line or argv', async () => {
      // The session: the cluster started and the nodes joined in beforeAll; now put, get and mint tokens.
      const content = randomBytes(300_000);
      const src = join(cluster.root, 'session.bin');
      await writeFile(src, content);
      expect((await cli(['put', src, 'session/file.bin'])).code).toBe(0);
      expect((await cli(['get', 'session/file.bin', join(cluster.root, 'session-back.bin')])).code).toBe(0);
      const writer = await createToken('write', 'session/');
      expect((await cli(['put', src, 'session/by-writer.bin'], { token: writer.token })).code).toBe(0);
      expect((await cli(['cat', 'session/by-writer.bin'], { token: writer.token })).code).toBe(0);
      await createToken('admin');
      const list = await cli(['token', 'list', '--json']);
      expect(list.code).toBe(0);

      const searched: Array<[string, string]> = [
        ...cluster.controller.lines.map((l): [string, string] => ['controller log', l]),
        ...cluster.nodes.flatMap((n) => n.proc.lines.map((l): [string, string] => [`node ${n.index} log`, l])),
        ...extraProcesses.flatMap((p, i) => p.lines.map((l): [string, string] => [`extra process ${i} log`, l])),
        ['controller argv', cmdline(cluster.controller.child.pid as number).join(' ')],
        ...cluster.nodes.map((n): [string, string] => [`node ${n.index} argv`, cmdline(n.proc.child.pid as number).join(' ')]),
        ...argvs.map((a): [string, string] => ['argv of a process the test started', a.join(' ')]),
        ...stderrs.map((s): [string, string] => ['CLI stderr', s]),
        ['token list output', list.stdout.toString()],
      ];
      expect(cluster.controller.lines.length).toBeGreaterThan(10);
      expect(secrets.size).toBeGreaterThanOrEqual(6);
      const leaks: string[] = [];
      for (const [what, secret] of secrets) {
        // The whole secret, and for client tokens the secret part alone (the id before it is public).
        const needles = [secret, ...(secret.startsWith('cairn_') ? [secret.split('_').slice(2).join('_')] : [])];
        for (const [where, text] of searched) {
          if (needles.some((n) => n.length >= 16 && text.includes(n))) leaks.push(`${what} in ${where}: ${text.slice(0, 200)}`);
        }
      }
      expect(leaks).toEqual([]);
    });
  });
});

async function readAll(client: CairnClient, name: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const piece of client.read(name)) parts.push(piece);
  return Buffer.concat(parts);
}

function httpGetStatus(port: number, path: string, authorization?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    httpGet({ host: '127.0.0.1', port, path, headers: authorization ? { authorization } : {} }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

function httpsStatus(url: string, ca: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    httpsGet(url, { ca }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}
