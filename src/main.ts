/**
 * Process entry for `npm start`: the server, with settings from the environment, an optional file
 * and the same flags as `ecowatt serve` (`npm start -- --port 8080`); an unknown flag stops it.
 */
import { Command } from 'commander';
import { withServeFlags } from './serve-flags.js';

await withServeFlags(new Command('npm start --').description('start the EcoWatt Cloud server')).parseAsync(
  process.argv,
);
