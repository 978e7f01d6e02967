import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import { toCairnError } from '@cairn/protocol';
import type { CatalogStore } from '@cairn/registry';

/** Replica rows of a forgotten node dropped per transaction: each step holds the event loop some tens of ms. */
export const DROP_STEP = 10_000;

/**
 * Drops the rows of a node forgotten (`node.forget`), a step at a time with other work in between:
 * a chunk report it left unfinished, then its replica rows; the catalog keeps its row as a mark. Stops,
 * having changed nothing more, if the node registers again meanwhile. A controller stopped midway goes on at its next start
 * (`resumeForgottenNodes`). Never rejects: a failure is logged, and the next start tries again.
 */
export async function dropForgottenNode(catalog: CatalogStore, nodeId: string, log: Logger, step = DROP_STEP): Promise<void> {
  let replicas = 0;
  try {
    for (;;) {
      const { dropped, done } = await catalog.dropForgottenReplicas(nodeId, step);
      replicas += dropped;
      if (done) break;
      await nextTurn();
    }
    log.info({ node: nodeId, replicas }, 'forgotten node dropped from the catalog');
  } catch (err) {
    const { code, message } = toCairnError(err);
    log.warn({ node: nodeId, replicas, code }, `could not drop a forgotten node's replica rows (the next start goes on): ${message}`);
  }
}

/** At start: goes on dropping the nodes forgotten before a stop, one after the other, in the background. */
export async function resumeForgottenNodes(catalog: CatalogStore, log: Logger, step = DROP_STEP): Promise<void> {
  try {
    for (const nodeId of await catalog.listForgottenNodes()) await dropForgottenNode(catalog, nodeId, log, step);
  } catch (err) {
    log.warn({ code: toCairnError(err).code }, 'could not list the forgotten nodes to drop (the next start tries again)');
  }
}
