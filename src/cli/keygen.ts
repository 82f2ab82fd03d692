/** `zqueue keygen NAME`: a CURVE key pair in the ZeroMQ certificate format. */
import { writeKeyPair } from '../keys.js';
import { resolveTable } from '../options.js';
import { keygenOptions } from './options.js';
import { UsageError, type CommandSpec, type Parsed } from './flags.js';

export const spec: CommandSpec = {
  name: 'keygen',
  summary: "write a CURVE key pair (NAME.key, NAME.key_secret), as pyzmq's create_certificates",
  usage: 'NAME [--dir DIR]',
  intro: `  Writes DIR/NAME.key (the public key, to hand out) and DIR/NAME.key_secret (the
  key pair, readable by its owner only), in the ZeroMQ certificate format that
  pyzmq and CZMQ read. Prints the public key. Never overwrites a file.`,
  sections: [{ table: keygenOptions, keys: ['dir'] }],
  positionals: 1,
};

export function run(parsed: Parsed): void {
  const name = parsed.args[0];
  if (name === undefined) throw new UsageError('zqueue keygen: NAME is required (the files are NAME.key and NAME.key_secret)');
  const { dir } = resolveTable('keygen', keygenOptions, parsed.of(keygenOptions));
  const { publicFile, secretFile, keys } = writeKeyPair(dir, name);
  console.log(keys.publicKey);
  console.error(`zqueue keygen: wrote ${publicFile} (public) and ${secretFile} (secret, mode 600)`);
}
