// The one method table (js/client/methods.js) against everything that lists the public
// methods: the type declarations' Sloop class (js/sloop.d.ts), the handle (js/sloop.js), the
// engine (js/engine/engine.js) and, for the calls the engine passes straight on, the core's
// CoreDb. A method added or removed in one place and not the others fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { METHODS, ENGINE_METHODS, INTERNAL_METHODS } from '../../js/client/methods.js';
import { Sloop } from '../../js/sloop.js';
import { SloopEngine } from '../../js/engine/engine.js';
import { CoreDb } from '../../js/core.js';

/** The method names of `export class Sloop` in sloop.d.ts, less EventTarget's. */
function declaredMethods() {
  const dts = readFileSync(new URL('../../js/sloop.d.ts', import.meta.url), 'utf8');
  const body = dts.match(/export class Sloop extends EventTarget \{\n([\s\S]*?)\n\}/)?.[1];
  assert.ok(body, 'sloop.d.ts declares class Sloop');
  const names = new Set();
  for (const line of body.split('\n')) {
    const m = line.match(/^ {2}(\w+)\s*(<[^(]*>)?\(/);
    if (m) names.add(m[1]);
  }
  for (const inherited of ['addEventListener', 'removeEventListener']) names.delete(inherited);
  return names;
}

test('sloop.d.ts declares exactly the table\'s methods', () => {
  const declared = [...declaredMethods()].sort();
  // Generic signatures (get<T>, list<T>) are read too.
  assert.ok(declared.includes('get') && declared.includes('list'));
  assert.deepEqual(declared, Object.keys(METHODS).sort());
});

test('the handle has every method of the table, and the table no method the handle lacks', () => {
  for (const name of Object.keys(METHODS)) assert.equal(typeof Sloop.prototype[name], 'function', name);
});

test('the engine answers every method the handle sends it, and nothing else', () => {
  for (const [name, { via }] of Object.entries({ ...METHODS, ...INTERNAL_METHODS })) {
    if (via === 'handle') assert.ok(!ENGINE_METHODS.has(name), `${name} runs in the handle only`);
    else assert.ok(ENGINE_METHODS.has(name), name);
    if (via === 'engine' && name !== 'open') assert.equal(typeof SloopEngine.prototype[name], 'function', `SloopEngine.${name}`);
    if (via === 'read' || via === 'write') assert.equal(typeof CoreDb.prototype[name], 'function', `CoreDb.${name}`);
  }
  assert.equal(ENGINE_METHODS.size, Object.keys(METHODS).filter((n) => METHODS[n].via !== 'handle').length + Object.keys(INTERNAL_METHODS).length);
});
