/** The `ecowatt` command: one sub-command per file in ./commands. */
import { Command } from 'commander';
import { VERSION } from '../runtime/version.js';
import { registerCommandCommand } from './commands/command.js';
import { registerConfigCommand } from './commands/config.js';
import { registerDecodeCommand } from './commands/decode.js';
import { registerDeviceCommand } from './commands/device.js';
import { registerFirmwareCommand } from './commands/firmware.js';
import { registerKeysCommand } from './commands/keys.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerOpenCommand } from './commands/open.js';
import { registerRolloutCommand } from './commands/rollout.js';
import { registerSealCommand } from './commands/seal.js';
import { registerServeCommand } from './commands/serve.js';
import { registerSimulateCommand } from './commands/simulate.js';
import { registerSimulateOtaCommand } from './commands/simulate-ota.js';
import { registerApiKeyCommand, registerUserCommand } from './commands/user.js';

const program = new Command();
program
  .name('ecowatt')
  .description('EcoWatt Cloud: server, device tools and simulator for EcoWatt inverter fleets')
  .version(VERSION)
  // `firmware add --version X.Y.Z`: the program's own --version only before a sub-command.
  .enablePositionalOptions();

registerServeCommand(program);
registerMigrateCommand(program);
registerUserCommand(program);
registerApiKeyCommand(program);
registerDeviceCommand(program);
registerConfigCommand(program);
registerCommandCommand(program);
registerKeysCommand(program);
registerFirmwareCommand(program);
registerRolloutCommand(program);
registerSimulateCommand(program);
registerSimulateOtaCommand(program);
registerDecodeCommand(program);
registerSealCommand(program);
registerOpenCommand(program);

await program.parseAsync(process.argv);
