#!/usr/bin/env node
/**
 * cli.js -- `sloop-server`: the reference sync server for your app, configured by a JSON file,
 * environment variables and flags (`sloop-server --help`, docs/SERVER.md).
 */
import { runCommandLine } from './main.js';

await runCommandLine(process.argv.slice(2));
