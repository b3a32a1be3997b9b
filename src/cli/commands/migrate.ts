/**
 * `ecowatt migrate`: applies the pending PostgreSQL migrations (the server also does at start-up;
 * this lets an operator do it ahead of a rolling upgrade, or check where a database stands).
 */
import type { Command } from 'commander';
import { migrateUrl } from '../../adapters/postgres/migrate.js';
import { PG_MIGRATIONS } from '../../adapters/postgres/schema.js';
import { redactUrl } from '../../settings/redact.js';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending PostgreSQL schema migrations')
    .option('--database-url <url>', 'postgres://… (ECOWATT_DATABASE_URL)')
    .option('--json', 'print the result as JSON')
    .action(async (o: { databaseUrl?: string; json?: boolean }) => {
      const url = o.databaseUrl ?? process.env.ECOWATT_DATABASE_URL;
      if (!url || !/^postgres(ql)?:\/\//.test(url)) {
        process.stderr.write('ecowatt migrate: give --database-url postgres://… (or ECOWATT_DATABASE_URL)\n');
        process.exitCode = 2;
        return;
      }
      let report: Awaited<ReturnType<typeof migrateUrl>>;
      try {
        report = await migrateUrl(url);
      } catch (err) {
        process.stderr.write(`ecowatt migrate: ${redactUrl(url)}: ${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      const latest = Math.max(...PG_MIGRATIONS.map((m) => m.version));
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ ...report, latest })}\n`);
        return;
      }
      const names = new Map(PG_MIGRATIONS.map((m) => [m.version, m.name]));
      for (const v of report.applied) process.stdout.write(`applied ${v}: ${names.get(v)}\n`);
      process.stdout.write(
        report.applied.length === 0
          ? `${redactUrl(url)} is up to date (version ${report.current})\n`
          : `${redactUrl(url)} is now at version ${report.current} of ${latest}\n`,
      );
    });
}
