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

/**
 * The methods of `export class Sloop` in sloop.d.ts, less EventTarget's: name -> the type it
 * resolves with (`Promise<void>` or other).
 */
function declaredMethods() {
  const dts = readFileSync(new URL('../../js/sloop.d.ts', import.meta.url), 'utf8');
  const body = dts.match(/export class Sloop extends EventTarget \{\n([\s\S]*?)\n\}/)?.[1];
  assert.ok(body, 'sloop.d.ts declares class Sloop');
  const methods = new Map();
  for (const line of body.split('\n')) {
    const m = line.match(/^ {2}(\w+)\s*(<[^(]*>)?\(.*\):\s*(.+);$/);
    if (m) methods.set(m[1], m[3]);
  }
  for (const inherited of ['addEventListener', 'removeEventListener']) methods.delete(inherited);
  return methods;
}

/**
 * The handle's own plumbing, on its prototype but no part of the API, and `call`: the core by
 * name for tools and tests, as `persistent.call` (the documented one, declared as a property).
 */
const NOT_IN_TABLE = ['constructor', 'emit', 'onEngineEvent', 'answerEngine', 'request'];

test('sloop.d.ts declares exactly the table\'s methods, Promise<void> exactly where the table says so', () => {
  const declared = declaredMethods();
  // Generic signatures (get<T>, list<T>) are read too.
  assert.ok(declared.has('get') && declared.has('list'));
  assert.deepEqual([...declared.keys()].sort(), Object.keys(METHODS).sort());
  for (const [name, { resolvesVoid }] of Object.entries(METHODS)) {
    assert.equal(declared.get(name) === 'Promise<void>', resolvesVoid === true, `${name}: ${declared.get(name)}`);
  }
});

test('the handle has every method of the table, and the table every method of the handle', () => {
  for (const name of Object.keys(METHODS)) assert.equal(typeof Sloop.prototype[name], 'function', name);
  const own = Object.getOwnPropertyNames(Sloop.prototype)
    .filter((name) => typeof Object.getOwnPropertyDescriptor(Sloop.prototype, name).value === 'function');
  assert.deepEqual(own.filter((name) => !NOT_IN_TABLE.includes(name)).sort(), Object.keys(METHODS).sort());
  for (const name of NOT_IN_TABLE) assert.ok(own.includes(name), `${name} is still the handle's (else drop it here)`);
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
