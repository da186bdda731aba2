import { existsSync } from 'node:fs';
import { startLatchkey } from './server.js';

// Real environment variables win over the file's (loadEnvFile never overwrites one that is set).
if (existsSync('.env')) process.loadEnvFile('.env');
void startLatchkey(process.env);
