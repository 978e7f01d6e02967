import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Makes a fresh directory for one test; every one made is removed by `removeTempDirs`. */
export class TempDirs {
  private readonly made: string[] = [];

  async make(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-chunk-store-'));
    this.made.push(dir);
    return dir;
  }

  async removeAll(): Promise<void> {
    const dirs = this.made.splice(0);
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  }
}
