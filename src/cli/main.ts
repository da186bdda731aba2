#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { runCli } from './program.js';

// As src/main.ts: real environment variables win over the file's.
if (existsSync('.env')) process.loadEnvFile('.env');
void runCli(process.argv.slice(2), process.env);
