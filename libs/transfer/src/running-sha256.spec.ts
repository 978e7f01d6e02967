import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { BackgroundSha256, type RunningSha256, inlineSha256 } from './running-sha256';
import { sharedBytes } from './testing/shared-bytes';

const opened: RunningSha256[] = [];
afterEach(() => {
  for (const hash of opened.splice(0)) hash.close();
});

function background(): BackgroundSha256 {
  const hash = new BackgroundSha256();
  opened.push(hash);
  return hash;
}

const expected = (parts: Uint8Array[]) => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
};

describe('RunningSha256', () => {
  it('on a thread, hashes parts in shared and in ordinary memory, in the order given, as one SHA-256', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ bytes: fc.uint8Array({ maxLength: 5000 }), inShared: fc.boolean(), offset: fc.nat(64) }), { maxLength: 8 }),
        async (parts) => {
          const hash = background();
          const given = parts.map(({ bytes, inShared, offset }) => (inShared ? sharedBytes(bytes, offset) : bytes));
          await Promise.all(given.map((part) => hash.update(part)));
          expect(await hash.digest()).toBe(expected(given));
        },
      ),
      { numRuns: 15 },
    );
  });

  it('inline, gives the same digest as on a thread', async () => {
    const parts = [randomBytes(3 << 20), randomBytes(17), new Uint8Array(0), randomBytes(1 << 20)];
    const inline = inlineSha256();
    const threaded = background();
    for (const part of parts) {
      await inline.update(part);
      await threaded.update(sharedBytes(part));
    }
    const digest = await inline.digest();
    expect(digest).toBe(expected(parts));
    expect(await threaded.digest()).toBe(digest);
  });

  it('has hashed the bytes once their update resolves: the caller may then reuse the buffer', async () => {
    const part = sharedBytes(randomBytes(1 << 20));
    const original = Buffer.from(part);
    const hash = background();
    await hash.update(part);
    part.fill(0); // the caller reuses its buffer
    expect(await hash.digest()).toBe(expected([original]));
  });

  it('refuses an update or a digest after the digest', async () => {
    const hash = background();
    await hash.update(randomBytes(10));
    await hash.digest();
    await expect(hash.update(randomBytes(10))).rejects.toThrow(/already digested/);
    await expect(hash.digest()).rejects.toThrow(/already digested/);
  });

  it('an update that cannot be posted fails alone: the answers after it still match their updates', async () => {
    const hash = background();
    const detached = new Uint8Array(16);
    structuredClone(detached.buffer, { transfer: [detached.buffer] }); // its bytes are gone: it cannot be cloned
    const good = randomBytes(100);
    await expect(hash.update(detached)).rejects.toThrow(/detached/);
    await hash.update(good);
    expect(await hash.digest()).toBe(expected([good]));
  });

  it('on a thread, keeps the process alive only while an answer is awaited', async () => {
    // A thread holding the process shows as an active MessagePort (its link to the thread). The threads
    // of the tests before this one end in the background: wait for them first.
    const holding = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
    for (let i = 0; i < 200 && holding() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    const before = holding();
    expect(before).toBe(0);
    const hash = background();
    await new Promise((r) => setImmediate(r));
    expect(holding()).toBe(before); // started, idle

    const waiting = hash.update(sharedBytes(randomBytes(8 << 20)));
    expect(holding()).toBe(before + 1);
    await waiting;
    expect(holding()).toBe(before);
    const digest = hash.digest();
    expect(holding()).toBe(before + 1);
    await digest;
    expect(holding()).toBe(before);
  });

  it('closed before its digest, fails what is waiting and everything after', async () => {
    const hash = new BackgroundSha256();
    const waiting = hash.update(sharedBytes(randomBytes(8 << 20)));
    hash.close();
    await expect(waiting).rejects.toThrow(/closed/);
    await expect(hash.update(randomBytes(1))).rejects.toThrow(/closed/);
    await expect(hash.digest()).rejects.toThrow(/closed/);
  });
});
