import { type HandlerFixture, startHandlerFixture } from './testing/handler-fixture';
import { answer } from './testing/reply-body';

/**
 * `cluster.status` is open to any token and its totals read the whole catalog: a client with many
 * requests in flight must not make the controller read it once per request.
 */
describe('cluster.status requests', () => {
  let fixture: HandlerFixture;

  afterEach(async () => {
    jest.restoreAllMocks();
    await fixture?.close();
  });

  it('share one reading of the catalog when they arrive together, and still answer each', async () => {
    const cluster = { list: () => [], healthyNodeIds: () => new Set<string>() };
    const healer = { counters: { queued: 0, running: 0, copiedChunks: 0, copiedBytes: 0, deletedChunks: 0 } };
    fixture = await startHandlerFixture({ cluster, healer });
    const send = await fixture.connect();
    const stats = jest.spyOn(fixture.catalog, 'stats');
    const health = jest.spyOn(fixture.catalog, 'replicationHealth');

    const answers = await Promise.all(Array.from({ length: 64 }, () => send('cluster.status', {})));

    for (const reply of answers) expect(answer(reply, 'cluster.info')).toMatchObject({ files: 0, underReplicated: 0, lost: 0 });
    expect(stats).toHaveBeenCalledTimes(1);
    expect(health).toHaveBeenCalledTimes(1);
  });
});
