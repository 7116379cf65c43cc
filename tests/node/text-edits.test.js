// The splice functions of js/client/text-edits.js: applying edits, mapping a caret through
// them, and the one splice between two values (with the caret settling repeated letters).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyEdits, mapIndex, spliceBetween } from '../../js/client/text-edits.js';

test('edits apply in order, each to the result of the one before; edits that do not fit give null', () => {
  assert.equal(applyEdits('abcdefghij', [[1, 0, 'X'], [9, 1, '']]), 'aXbcdefghj');
  assert.equal(applyEdits('abc', [[0, 3, 'xyz'], [3, 0, '!']]), 'xyz!');
  assert.equal(applyEdits('abc', []), 'abc');
  assert.equal(applyEdits('abc', [[2, 2, '']]), null);
  assert.equal(applyEdits('abc', [[4, 0, 'x']]), null);
});

test('a caret stays on the same text: before an edit it stays, after it shifts, inside a replaced run it keeps its offset', () => {
  const edits = [[2, 0, 'XY']];
  assert.equal(mapIndex(1, edits), 1);
  assert.equal(mapIndex(2, edits), 2, 'text inserted at the caret goes after it');
  assert.equal(mapIndex(3, edits), 5);
  assert.equal(mapIndex(5, [[1, 3, '']]), 2);
  assert.equal(mapIndex(3, [[1, 3, '']]), 1, 'inside the deleted run');
  assert.equal(mapIndex(3, [[1, 3, 'new']]), 3, 'inside a replaced run: as far into the replacement');
  assert.equal(mapIndex(3, [[1, 3, 'n']]), 2, 'cut to the replacement');
  assert.equal(mapIndex(4, [[1, 3, 'new']]), 4);
  // Two edits far apart: a caret between them moves by the first only.
  assert.equal(mapIndex(5, [[1, 0, 'X'], [9, 1, '']]), 6);
  assert.equal(mapIndex(0, [[0, 2, '']]), 0);
});

test('the splice between two values keeps the common prefix and suffix, and the caret settles which letter was typed', () => {
  assert.equal(spliceBetween('same', 'same'), null);
  assert.deepEqual(spliceBetween('Valve ok.', 'Valve not ok.'), [6, 0, 'not ']);
  assert.deepEqual(spliceBetween('Valve ok.', 'Valve not ok.', 10), [6, 0, 'not '], 'typed "not " before "ok"');
  assert.deepEqual(spliceBetween('Valve ok.', 'Valve not ok.', 9), [5, 0, ' not'], 'typed " not" after "Valve"');
  assert.deepEqual(spliceBetween('abcdef', 'abef'), [2, 2, '']);
  assert.deepEqual(spliceBetween('abc', 'aXc'), [1, 1, 'X']);
  assert.deepEqual(spliceBetween('', 'new'), [0, 0, 'new']);
  // "a" typed into "aa": after the first letter, or at the end.
  assert.deepEqual(spliceBetween('aa', 'aaa', 2), [1, 0, 'a']);
  assert.deepEqual(spliceBetween('aa', 'aaa', 3), [2, 0, 'a']);
  assert.deepEqual(spliceBetween('aa', 'aaa'), [2, 0, 'a']);
  // Backspace after the second of three: the caret is at 1 after it.
  assert.deepEqual(spliceBetween('aaa', 'aa', 1), [1, 1, '']);
  // A surrogate pair is never cut: two emoji sharing their high half differ as a whole.
  assert.deepEqual(spliceBetween('x\u{1F527}y', 'x\u{1F528}y'), [1, 2, '\u{1F528}']);
  assert.deepEqual(spliceBetween('\u{1F527}', '\u{1F527}\u{1F527}', 4), [2, 0, '\u{1F527}']);
  for (const [before, after] of [['hello world', 'hello brave world'], ['abc', ''], ['', ''], ['x\u{1F527}', '\u{1F527}']]) {
    const edit = spliceBetween(before, after);
    assert.equal(edit ? applyEdits(before, [edit]) : before, after);
  }
});
