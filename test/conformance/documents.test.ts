// listDocuments: the documents of a kind still kept, the last saved first, at most `limit`;
// another kind's are not listed, a document saved again moves to the front, expired ones drop out.
import { expect, it } from 'vitest';
import { conformance, NOT_YET } from './kit.js';

conformance('listing documents', (s) => {
  it('lists a kind\'s documents, the last saved first, up to the limit', async () => {
    const { broker } = s();
    expect(await broker.listDocuments('report', 10)).toEqual([]);
    for (const n of [1, 2, 3]) {
      await broker.saveDocument('report', `r${n}`, `{"n":${n}}`, NOT_YET);
      await s().elapse(3); // each saved in a later ms
    }
    await broker.saveDocument('other', 'x', '{"other":true}', NOT_YET);
    expect(await broker.listDocuments('report', 10)).toEqual([
      { id: 'r3', json: '{"n":3}' }, { id: 'r2', json: '{"n":2}' }, { id: 'r1', json: '{"n":1}' },
    ]);
    expect((await broker.listDocuments('report', 2)).map((d) => d.id)).toEqual(['r3', 'r2']);
    expect(await broker.listDocuments('other', 10)).toEqual([{ id: 'x', json: '{"other":true}' }]);
    // Saved again: its new content, at the front.
    await s().elapse(3);
    await broker.saveDocument('report', 'r1', '{"n":11}', NOT_YET);
    expect(await broker.listDocuments('report', 2)).toEqual([{ id: 'r1', json: '{"n":11}' }, { id: 'r3', json: '{"n":3}' }]);
  });

  it('drops documents whose ttl ran out, and fills the page from older ones', async () => {
    const { broker } = s();
    await broker.saveDocument('report', 'kept1', '{"n":1}', NOT_YET);
    await s().elapse(3);
    await broker.saveDocument('report', 'kept2', '{"n":2}', NOT_YET);
    await s().elapse(3);
    await broker.saveDocument('report', 'short', '{"n":3}', s().short);
    expect((await broker.listDocuments('report', 2)).map((d) => d.id)).toEqual(['short', 'kept2']);
    await s().elapse(s().short + 10);
    expect((await broker.listDocuments('report', 2)).map((d) => d.id)).toEqual(['kept2', 'kept1']);
    expect(await broker.loadDocument('report', 'short')).toBeNull();
    expect((await broker.listDocuments('report', 10)).map((d) => d.id)).toEqual(['kept2', 'kept1']);
  });
});
