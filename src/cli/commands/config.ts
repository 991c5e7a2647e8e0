// `millrace config`: the effective settings of this environment (.env read) and the given flags,
// with where each came from; the worker flags are accepted so their precedence can be checked.

import { Command, Option } from 'commander';
import { describeConfig } from '../../config.js';
import { resolveSettings, type WorkerFlagValues } from '../flags.js';
import { json, stringify, table, type Output } from '../output.js';
import type { Schedule } from './common.js';

/** The worker's flags, as text: checked by the settings, whose messages name the flag. */
interface ConfigFlags extends WorkerFlagValues {
  json?: boolean;
}

export function registerConfigCommand(program: Command, out: Output, schedule: Schedule): void {
  program
    .command('config')
    .summary('print the effective settings and where each comes from')
    .description('print every setting: its value from flags, environment (.env read) or the built-in default, the variables that set it, and what it accepts; code options of an app are not shown')
    .option('--json', 'print JSON')
    .option('-q, --queue <names>', 'as for `millrace worker`')
    .option('-c, --concurrency <n>', 'as for `millrace worker`')
    .option('-w, --workers <n>', 'as for `millrace worker`')
    .option('--shutdown-timeout <seconds>', 'as for `millrace worker`')
    .option('--heartbeat-interval <seconds>', 'as for `millrace worker`')
    .option('--heartbeat-ttl <seconds>', 'as for `millrace worker`')
    .option('--dlq', 'as for `millrace worker`')
    .option('--no-dlq', 'as for `millrace worker`')
    .addOption(new Option('--log-level <level>', 'as for `millrace worker`'))
    .addHelpText('after', `
Examples:
  $ millrace config
  $ WORKER_CONCURRENCY=5 millrace config --concurrency 8 --json   the flag wins`)
    .action((flags: ConfigFlags) =>
      schedule(async () => {
        // A bad setting throws a ConfigError: exit 2 with its message (see main.ts).
        const rows = describeConfig(resolveSettings(flags));
        if (flags.json) out.out(json(Object.fromEntries(rows.map((r) => [r.key, r]))));
        else {
          out.out(table(rows, [
            { header: 'setting', value: (r) => r.key },
            { header: 'value', value: (r) => (r.value === undefined ? '-' : stringify(r.value)) },
            { header: 'source', value: (r) => (r.from ? `${r.source} (${r.from})` : r.source) },
            { header: 'variables', value: (r) => r.env.join(', ') },
          ]));
        }
        return 0;
      }),
    );
}
