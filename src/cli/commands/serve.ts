import { Command } from 'commander';
import type { CliContext } from '../context.js';

export function serveCommand(ctx: CliContext): Command {
  return new Command('serve')
    .description('run the server, as `npm start` does (configured by the environment and .env)')
    .action(async () => {
      ctx.serving = true;
      // Loaded only here: the other commands never need the HTTP server.
      const { startLatchkey } = await import('../../server.js');
      await startLatchkey(ctx.env);
    });
}
