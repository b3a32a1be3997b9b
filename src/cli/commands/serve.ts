import type { Command } from 'commander';
import { withServeFlags } from '../../serve-flags.js';

export function registerServeCommand(program: Command): void {
  withServeFlags(
    program.command('serve').description('start the server (HTTP on 5001, SQLite in ./data by default)'),
  );
}
