import { Command } from 'commander';

const program = new Command();
program
  .name('ecowatt')
  .description('EcoWatt Cloud: server, device tools and simulator for EcoWatt inverter fleets')
  .version('0.1.0');

await program.parseAsync(process.argv);
