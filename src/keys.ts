/**
 * CURVE keys and key files.
 *
 * Files use the ZeroMQ certificate format that CZMQ and pyzmq's
 * `zmq.auth.create_certificates()` write, so keys move freely between
 * zqueue and those tools:
 *
 *     NAME.key          public certificate: `public-key = "<Z85>"`
 *     NAME.key_secret   secret certificate: public-key and secret-key, mode 0600
 *
 * A file holding a bare 40-character Z85 key is read too.
 */
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { ErrorCode, ZqueueError } from './errors.js';

const Z85_CHARS = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const Z85_INDEX = new Map([...Z85_CHARS].map((c, i) => [c, i]));
const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

export function isZ85Key(text: string): boolean {
  return Z85_KEY.test(text);
}

/** Decodes a Z85 string (length a multiple of 5) into bytes. */
export function z85Decode(text: string): Buffer {
  if (text.length % 5 !== 0) throw new RangeError('Z85 text length must be a multiple of 5');
  const out = Buffer.alloc((text.length / 5) * 4);
  for (let i = 0, o = 0; i < text.length; i += 5, o += 4) {
    let v = 0;
    for (let j = 0; j < 5; j++) {
      const d = Z85_INDEX.get(text[i + j] ?? '');
      if (d === undefined) throw new RangeError(`not a Z85 character: ${JSON.stringify(text[i + j])}`);
      v = v * 85 + d;
    }
    if (v > 0xffffffff) throw new RangeError('Z85 group out of range');
    out.writeUInt32BE(v, o);
  }
  return out;
}

/** Encodes bytes (length a multiple of 4) as Z85. */
export function z85Encode(bytes: Buffer): string {
  if (bytes.length % 4 !== 0) throw new RangeError('Z85 input length must be a multiple of 4');
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    let v = bytes.readUInt32BE(i);
    const chunk: string[] = [];
    for (let j = 0; j < 5; j++) {
      chunk.unshift(Z85_CHARS[v % 85] ?? '');
      v = Math.floor(v / 85);
    }
    out += chunk.join('');
  }
  return out;
}

export interface KeyPair {
  readonly publicKey: string;
  readonly secretKey: string;
}

function keyError(message: string, cause?: unknown): ZqueueError {
  return new ZqueueError(ErrorCode.InvalidKey, message, cause === undefined ? undefined : { cause });
}

function read(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a folder' : String(code);
    throw keyError(`cannot read ${what} ${path}: ${why}`, err);
  }
}

/** Reads the keys a file holds: certificate fields, or one bare Z85 key (taken as public). */
function parseKeyFile(path: string, text: string): { publicKey?: string; secretKey?: string } {
  const field = (name: string): string | undefined => {
    const m = new RegExp(`^\\s*${name}\\s*=\\s*"([^"]*)"\\s*$`, 'm').exec(text);
    return m?.[1];
  };
  let publicKey = field('public-key');
  const secretKey = field('secret-key');
  if (publicKey === undefined && secretKey === undefined) {
    const bare = text.trim();
    if (!isZ85Key(bare)) {
      throw keyError(
        `${path} is not a CURVE key file: expected a certificate with public-key = "…" (as zqueue keygen ` +
          `writes) or one 40-character Z85 key`,
      );
    }
    publicKey = bare;
  }
  for (const [name, key] of [
    ['public-key', publicKey],
    ['secret-key', secretKey],
  ] as const) {
    if (key !== undefined && !isZ85Key(key)) throw keyError(`${path}: its ${name} is not a 40-character Z85 key`);
  }
  return { ...(publicKey !== undefined ? { publicKey } : {}), ...(secretKey !== undefined ? { secretKey } : {}) };
}

/** A public key from a public or secret certificate. */
export function loadPublicKey(path: string): string {
  const keys = parseKeyFile(path, read(path, 'the public key file'));
  if (keys.publicKey === undefined) throw keyError(`${path} has no public-key`);
  return keys.publicKey;
}

/** A key pair from a secret certificate; a file with only a public key is refused with a message that says so. */
export function loadKeyPair(path: string): KeyPair {
  const keys = parseKeyFile(path, read(path, 'the secret key file'));
  if (keys.secretKey === undefined) {
    throw keyError(`${path} holds only a public key; a secret key file is needed here (NAME.key_secret, as zqueue keygen writes)`);
  }
  const derived = publicOf(keys.secretKey);
  if (keys.publicKey !== undefined && keys.publicKey !== derived)
    throw keyError(`${path}: its public-key does not belong to its secret-key`);
  return { publicKey: derived, secretKey: keys.secretKey };
}

/** The public key of a secret key: X25519 of the secret and the base point, as libzmq's zmq_curve_public. */
export function publicOf(secretKey: string): string {
  // The secret as a PKCS#8 X25519 private key (its fixed 16-byte header, then the 32 bytes); its SPKI public key ends with the 32 public
  // bytes.
  const der = Buffer.concat([X25519_PKCS8_HEADER, z85Decode(secretKey)]);
  const spki = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
  if (spki.length < 32) throw keyError('cannot derive the public key');
  return z85Encode(spki.subarray(spki.length - 32));
}

/**
 * DER of PrivateKeyInfo { version 0, AlgorithmIdentifier X25519 (1.3.101.110), OCTET STRING { OCTET STRING (32 bytes) } }, up to the key.
 */
const X25519_PKCS8_HEADER = Buffer.from('302e020100300506032b656e04220420', 'hex');

/**
 * Public keys to allow: a file (one certificate or bare key, or several bare
 * keys one per line) or a folder of `*.key` certificates.
 */
export function loadAllowList(path: string): string[] {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (err) {
    throw keyError(
      `cannot read the allow-list ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : String(err)}`,
      err,
    );
  }
  if (isDir) {
    const files = readdirSync(path)
      .filter((f) => f.endsWith('.key'))
      .sort();
    return [...new Set(files.map((f) => loadPublicKey(join(path, f))))];
  }
  const text = read(path, 'the allow-list');
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length > 0 && lines.every(isZ85Key)) return [...new Set(lines)];
  return [loadPublicKey(path)];
}

function certificate(kind: 'public' | 'secret', keys: KeyPair, now: Date): string {
  const head =
    kind === 'secret'
      ? ['#   ZeroMQ CURVE **Secret** Certificate', '#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.']
      : [
          '#   ZeroMQ CURVE Public Certificate',
          '#   Exchange securely, or use a secure mechanism to verify the contents',
          '#   of this file after exchange.',
        ];
  return [
    `#   ****  Generated on ${now.toISOString()} by zqueue keygen  ****`,
    ...head,
    '',
    'metadata',
    'curve',
    `    public-key = "${keys.publicKey}"`,
    ...(kind === 'secret' ? [`    secret-key = "${keys.secretKey}"`] : []),
    '',
  ].join('\n');
}

/**
 * Writes a new key pair as `dir/name.key` (public) and `dir/name.key_secret`
 * (secret, readable by its owner only). Refuses to overwrite either.
 */
export function writeKeyPair(dir: string, name: string, now = new Date()): { publicFile: string; secretFile: string; keys: KeyPair } {
  if (!/^[A-Za-z0-9_.-]+$/.test(name))
    throw new ZqueueError(ErrorCode.InvalidOption, `key name must be letters, digits, "_", "." or "-", got ${JSON.stringify(name)}`);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ZqueueError(ErrorCode.InvalidOption, `folder ${dir} does not exist`);
  const publicFile = join(dir, `${name}.key`);
  const secretFile = join(dir, `${name}.key_secret`);
  for (const f of [publicFile, secretFile]) {
    if (existsSync(f)) throw new ZqueueError(ErrorCode.InvalidOption, `${f} exists; remove it or choose another name`);
  }
  const keys = zmq.curveKeyPair();
  writeFileSync(secretFile, certificate('secret', keys, now), { mode: 0o600, flag: 'wx' });
  writeFileSync(publicFile, certificate('public', keys, now), { mode: 0o644, flag: 'wx' });
  return { publicFile, secretFile, keys };
}
