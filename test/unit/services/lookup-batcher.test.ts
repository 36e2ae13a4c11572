// Lookups asked for in one turn of the event loop go out as one batch; none waits on a batch that
// was sent before it was asked for, answers reach the right callers, and a failure reaches all.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LookupBatcher } from '../../../src/services/lookup-batcher.js';

/**
 * A lookup that records each batch and answers from `table` as it was when the batch was sent
 * (a statement's snapshot), at once or, with `hold`, when releaseAll is called.
 */
function recordingLookup(table: Map<string, number>, options: { hold?: boolean } = {}) {
  const batches: string[][] = [];
  const held: (() => void)[] = [];
  const lookup = async (keys: string[]) => {
    batches.push([...keys]);
    const answers = keys.map((k) => table.get(k));
    if (options.hold) await new Promise<void>((resolve) => held.push(resolve));
    return answers;
  };
  return { batches, lookup, releaseAll: () => held.splice(0).forEach((r) => r()) };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('LookupBatcher', () => {
  it('sends the lookups of one turn as one batch and gives each caller its own answer', async () => {
    const table = new Map([['a', 1], ['b', 2], ['c', 3]]);
    const { batches, lookup } = recordingLookup(table);
    const batcher = new LookupBatcher(lookup, (k: string) => k);
    const answers = await Promise.all(['c', 'missing', 'a', 'b'].map((k) => batcher.load(k)));
    assert.deepEqual(answers, [3, undefined, 1, 2]);
    assert.deepEqual(batches, [['c', 'missing', 'a', 'b']]);
  });

  it('asks once for keys with the same identity and answers every caller', async () => {
    const { batches, lookup } = recordingLookup(new Map([['x', 7]]));
    const batcher = new LookupBatcher(lookup, (k: string) => k.toLowerCase());
    const answers = await Promise.all([batcher.load('x'), batcher.load('X'), batcher.load('x')]);
    assert.deepEqual(answers, [7, 7, 7]);
    assert.deepEqual(batches, [['x']]);
  });

  it('never answers a lookup from a batch sent before it was asked: it waits for a batch of its own', async () => {
    const table = new Map([['tag', 1]]);
    const { batches, lookup, releaseAll } = recordingLookup(table, { hold: true });
    const batcher = new LookupBatcher(lookup, (k: string) => k);
    const first = batcher.load('tag');
    await turn(); // the first batch is out, its answer not back yet
    assert.equal(batches.length, 1);
    table.set('tag', 2); // e.g. a push moved the tag meanwhile
    const second = batcher.load('tag');
    await turn();
    assert.equal(batches.length, 2, 'the later lookup went out in a new batch');
    releaseAll();
    assert.equal(await first, 1);
    assert.equal(await second, 2, 'the later lookup sees the later state');
  });

  it('sends a full batch at once and the rest in the next', async () => {
    const table = new Map(Array.from({ length: 10 }, (_, i) => [`k${i}`, i] as const));
    const { batches, lookup } = recordingLookup(table);
    const batcher = new LookupBatcher(lookup, (k: string) => k, 4);
    const answers = await Promise.all([...table.keys()].map((k) => batcher.load(k)));
    assert.deepEqual(answers, [...table.values()]);
    assert.deepEqual(
      batches.map((b) => b.length),
      [4, 4, 2],
    );
  });

  it('rejects every caller of a failed batch, and later lookups still work', async () => {
    let fail = true;
    const batcher = new LookupBatcher(async (keys: string[]) => {
      if (fail) throw new Error('connection lost');
      return keys.map((k) => k.length);
    }, (k: string) => k);
    const results = await Promise.allSettled([batcher.load('a'), batcher.load('bb')]);
    assert.deepEqual(
      results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : r.value)),
      ['connection lost', 'connection lost'],
    );
    fail = false;
    assert.equal(await batcher.load('ccc'), 3);
  });

  it('rejects the batch when the lookup answers a different number of keys', async () => {
    const batcher = new LookupBatcher(async (keys: string[]) => keys.slice(1), (k: string) => k);
    await assert.rejects(Promise.all([batcher.load('a'), batcher.load('b')]), /1 answers for 2 keys/);
  });
});
