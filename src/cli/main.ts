#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { runCli } from './program.js';

// A reader that stops early (`latchkey users list | head`) closes the pipe: nothing is left to say, so the
// command ends quietly, as other command-line tools do, instead of with a stack.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(0);
});

// As src/main.ts: real environment variables win over the file's.
if (existsSync('.env')) process.loadEnvFile('.env');
void runCli(process.argv.slice(2), process.env);
