import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';

/**
 * Named pipes made for a test (mkfifo(1): Node has no call for it). A reader that opens one without
 * O_NONBLOCK waits in its open until a writer comes, and holds its thread meanwhile: `releaseAll`
 * opens each for writing once, so that a test that hung there (and failed on its timeout) still lets
 * the store close.
 */
export class Fifos {
  private readonly made: string[] = [];

  make(path: string): string {
    execFileSync('mkfifo', [path]);
    this.made.push(path);
    return path;
  }

  releaseAll(): void {
    for (const fifo of this.made.splice(0)) {
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // ENXIO: no reader waits on it; ENOENT: removed with its directory or replaced by a put.
      }
    }
  }
}
