/** The `ecowatt` command: one sub-command per file in ./commands. */
import { Command } from 'commander';
import { VERSION } from '../version.js';
import { registerDecodeCommand } from './commands/decode.js';
import { registerDeviceCommand } from './commands/device.js';
import { registerOpenCommand } from './commands/open.js';
import { registerSealCommand } from './commands/seal.js';
import { registerServeCommand } from './commands/serve.js';
import { registerSimulateCommand } from './commands/simulate.js';

const program = new Command();
program
  .name('ecowatt')
  .description('EcoWatt Cloud: server, device tools and simulator for EcoWatt inverter fleets')
  .version(VERSION);

registerServeCommand(program);
registerDeviceCommand(program);
registerSimulateCommand(program);
registerDecodeCommand(program);
registerSealCommand(program);
registerOpenCommand(program);

await program.parseAsync(process.argv);
