import type { CatalogStore } from '@cairn/registry';
import { type HandlerFixture, startHandlerFixture } from './testing/handler-fixture';
import { answer } from './testing/reply-body';

/**
 * Token administration through the request handlers, with real access control and catalog: an admin
 * token limited to a prefix administers only tokens within that prefix; the bootstrap admin token,
 * which has none, administers every token.
 */

describe('token administration by an admin limited to a prefix', () => {
  let fixture: HandlerFixture;
  let catalog: CatalogStore;

  beforeEach(async () => {
    // Token requests use the access control and the catalog only.
    fixture = await startHandlerFixture();
    catalog = fixture.catalog;
  });

  afterEach(async () => {
    await fixture.close();
  });

  /** A client connection authenticated with `token`, and a way to send it requests. */
  async function clientWith(token: string) {
    const send = await fixture.connect(token);
    return {
      create: async (scope: 'read' | 'write' | 'admin', prefix?: string) => answer(await send('token.create', { scope, prefix }), 'token.created'),
      list: async () => answer(await send('token.list', {}), 'token.listed').tokens.map((t) => ({ id: t.id, prefix: t.prefix })),
      revoke: (id: string) => send('token.revoke', { id }),
      drain: (nodeId: string) => send('node.drain', { nodeId, draining: true }),
    };
  }

  const prefixOf = async (id: string) => (await catalog.getToken(id))?.prefix;

  /** The bootstrap admin, and an admin token limited to `team-a/` that it created. */
  async function admins() {
    const root = await clientWith(fixture.adminToken);
    const teamA = await clientWith((await root.create('admin', 'team-a/')).token);
    return { root, teamA };
  }

  it('creates tokens within its prefix, its own prefix when none is asked, and refuses any other', async () => {
    const { teamA } = await admins();

    expect(await prefixOf((await teamA.create('write')).id)).toBe('team-a/');
    expect(await prefixOf((await teamA.create('read', 'team-a/photos/')).id)).toBe('team-a/photos/');
    for (const outside of ['team-b/', 'team-']) {
      await expect(teamA.create('admin', outside)).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    }
    await expect(teamA.create('admin', '')).rejects.toMatchObject({ code: 'E_NAME_INVALID' }); // no token limits nothing
    expect((await catalog.listTokens()).filter((t) => t.prefix === null || !t.prefix.startsWith('team-a/'))).toEqual([]);
  });

  it('lists and revokes only the tokens within its prefix', async () => {
    const { root, teamA } = await admins();
    const mine = await teamA.create('read');
    const theirs = await root.create('write', 'team-b/');
    const unlimited = await root.create('read');

    expect((await teamA.list()).map((t) => t.prefix)).toEqual(['team-a/', 'team-a/']);
    await expect(teamA.revoke(theirs.id)).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await expect(teamA.revoke(unlimited.id)).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    expect((await catalog.getToken(theirs.id))?.revokedAt).toBeNull();
    expect((await catalog.getToken(unlimited.id))?.revokedAt).toBeNull();

    await teamA.revoke(mine.id);
    expect((await catalog.getToken(mine.id))?.revokedAt).not.toBeNull();
  });

  it('refuses it the cluster-wide work of an admin: draining a node', async () => {
    const { teamA } = await admins();
    await expect(teamA.drain('n1')).rejects.toMatchObject({ code: 'E_FORBIDDEN', message: expect.stringContaining('team-a/') });
  });

  it('leaves the bootstrap admin token its full power', async () => {
    const { root, teamA } = await admins();
    const unlimited = await root.create('admin');
    expect(await prefixOf(unlimited.id)).toBeNull();
    const elsewhere = await root.create('write', 'team-b/');
    const inTeamA = await teamA.create('read');

    expect((await root.list()).map((t) => t.prefix).sort()).toEqual([null, 'team-a/', 'team-a/', 'team-b/'].sort());
    await root.revoke(elsewhere.id);
    await root.revoke(inTeamA.id);
    expect((await catalog.listTokens()).filter((t) => t.revokedAt !== null).map((t) => t.id).sort()).toEqual([elsewhere.id, inTeamA.id].sort());
  });
});
