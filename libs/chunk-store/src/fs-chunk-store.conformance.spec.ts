import { describeChunkStoreConformance } from './chunk-store.conformance';
import { openChunkStore } from './open-chunk-store';
import { TempDirs } from './testing/temp-dir';

const dirs = new TempDirs();

describeChunkStoreConformance('file-system store', {
  setup: async () => openChunkStore({ dir: await dirs.make() }),
  teardown: async (store) => {
    try {
      await store.close();
    } finally {
      await dirs.removeAll();
    }
  },
});
