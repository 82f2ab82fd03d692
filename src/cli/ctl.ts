/** `zqueue ctl ENDPOINT COMMAND`: one command to a device's --control socket. */
import { CONTROL_COMMANDS, sendControl } from '../operate/control.js';
import { resolveTable } from '../options.js';
import { ctlOptions } from './options.js';
import { UsageError, type CommandSpec, type Parsed } from './flags.js';

export const spec: CommandSpec = {
  name: 'ctl',
  summary: 'pause, resume, stop or query a device through its --control socket',
  usage: `ENDPOINT ${CONTROL_COMMANDS.join('|')} [options]`,
  intro: "  Sends one command to a device's --control socket and prints the answer.",
  sections: [{ table: ctlOptions, keys: ['timeoutMs'] }],
  positionals: 2,
};

export async function run(parsed: Parsed): Promise<void> {
  const [endpoint, command] = parsed.args;
  if (endpoint === undefined || command === undefined)
    throw new UsageError(`zqueue ctl: ENDPOINT and a command (${CONTROL_COMMANDS.join('|')}) are required`);
  const { timeoutMs } = resolveTable('ctl', ctlOptions, parsed.of(ctlOptions));
  console.log(await sendControl(endpoint, command, timeoutMs));
}
