import { join } from 'node:path';
import { TreeClaims } from './tree-claims';

const exact = { ignoresCase: false, ignoresNormalisation: false };
const caseless = { ignoresCase: true, ignoresNormalisation: false };

/** The paths `claims` takes, in the order given. */
const taken = (claims: TreeClaims, paths: string[]) => paths.filter((path) => claims.claim(path));

describe('TreeClaims', () => {
  it('gives out each path once', () => {
    expect(taken(new TreeClaims(exact), ['a.txt', join('sub', 'b.txt'), 'a.txt', join('sub', 'b.txt')])).toEqual(['a.txt', join('sub', 'b.txt')]);
  });

  it('never takes a path for a file and a directory: a file first keeps the names below it out', () => {
    expect(taken(new TreeClaims(exact), ['a', join('a', 'b'), join('a', 'b', 'c'), join('c', 'd')])).toEqual(['a', join('c', 'd')]);
  });

  it('never takes a path for a file and a directory: a directory first keeps a file of its name out', () => {
    expect(taken(new TreeClaims(exact), [join('a', 'b', 'c'), join('a', 'b'), 'a', join('a', 'd')])).toEqual([join('a', 'b', 'c'), join('a', 'd')]);
  });

  it('compares paths as the file system does', () => {
    expect(taken(new TreeClaims(caseless), [join('B', 'c'), 'b', 'A', join('a', 'x'), 'C.txt', 'c.TXT'])).toEqual([join('B', 'c'), 'A', 'C.txt']);
    expect(taken(new TreeClaims(exact), [join('B', 'c'), 'b', 'A', join('a', 'x')])).toEqual([join('B', 'c'), 'b', 'A', join('a', 'x')]);
  });
});
