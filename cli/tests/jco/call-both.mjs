// Calls `both` of a bundled `caller + callee` transpiled by jco, from Node: once to warm up,
// then timed. Prints one JSON line: the answers and the timed call's milliseconds.
// Usage: node call-both.mjs TRANSPILED.js MILLIS
import { pathToFileURL } from 'node:url';

const [module, millis] = process.argv.slice(2);
const { api } = await import(pathToFileURL(module).href);
const warm = api.both(1);
const start = performance.now();
const timed = api.both(Number(millis));
const ms = performance.now() - start;
console.log(JSON.stringify({ warm, timed, ms }));
