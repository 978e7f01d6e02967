import { overCapacityWarning } from './startup-checks';

describe('overCapacityWarning', () => {
  it('warns of a --capacity below what the store holds already', () => {
    expect(overCapacityWarning({ used: 5000, capacity: 1000 }, 1000)).toBe(
      '--capacity 1000 is below the 5000 bytes already stored: this node takes no new chunks until enough are removed (drain it to move some away, or raise --capacity)',
    );
  });

  it('says nothing while there is room, or when the capacity is the disk (no --capacity)', () => {
    expect(overCapacityWarning({ used: 1000, capacity: 1000 }, 1000)).toBeUndefined();
    expect(overCapacityWarning({ used: 10, capacity: 1000 }, 1000)).toBeUndefined();
    expect(overCapacityWarning({ used: 5000, capacity: 1000 }, undefined)).toBeUndefined();
  });
});
