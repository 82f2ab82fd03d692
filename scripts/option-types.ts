/**
 * `npm run options` writes src/option-types.ts: the library's option types
 * (DeviceOptions, ServerOptions, ClientOptions, BrokerOptions) as interfaces
 * whose fields carry each option's doc line and `@default`, read from the
 * option tables in src/options.ts, so the API reference (TypeDoc) and an
 * editor's hover show them. The tables stay the one place an option is
 * written; src/options.ts checks at compile time that these interfaces and
 * its tables agree. `--check` (in `npm run lint`) exits 1 when the file is
 * not what the tables make.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as prettier from 'prettier';
import ts from 'typescript';
import { brokerOptions, clientOptions, deviceOptions, flagsOf, serverOptions, type OptionTable } from '../src/options.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OUT = join(ROOT, 'src', 'option-types.ts');

/** name in the generated file, the table, the resolved type whose fields give the types, fields left out, and what it is. */
const TABLES: readonly { name: string; table: OptionTable; resolved: string; omit?: readonly string[]; doc: string }[] = [
  {
    name: 'DeviceOptions',
    table: deviceOptions,
    resolved: 'ResolvedDeviceOptions',
    doc: 'A device: `createDevice(options)`, `zqueue device`.',
  },
  {
    name: 'ServerOptions',
    table: serverOptions,
    resolved: 'ResolvedServerOptions',
    doc: 'A server: `createServer(handler, options)`, `ServerGroup`, `zqueue server`.',
  },
  {
    name: 'ClientOptions',
    table: clientOptions,
    resolved: 'ResolvedClientOptions',
    doc: 'A client: `createClient(options)`, `zqueue client`.',
  },
  {
    name: 'BrokerOptions',
    table: brokerOptions,
    resolved: 'ResolvedBrokerOptions',
    omit: ['handler'],
    doc: "`zqueue serve` as a library: `createBroker(options)`. Every device option, the pool's, and the handler.",
  },
];

/** The TypeScript text of each field's type, as the resolved options type has it. */
function fieldTypes(): Map<string, Map<string, string>> {
  const file = join(ROOT, 'src', 'options.ts');
  const program = ts.createProgram([file], {
    strict: true,
    exactOptionalPropertyTypes: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  if (source === undefined) throw new Error('src/options.ts not found');
  const out = new Map<string, Map<string, string>>();
  ts.forEachChild(source, (node) => {
    if (!ts.isTypeAliasDeclaration(node)) return;
    const t = TABLES.find((x) => x.resolved === node.name.text);
    if (t === undefined) return;
    const type = checker.getTypeAtLocation(node.name);
    const fields = new Map<string, string>();
    for (const prop of checker.getPropertiesOfType(type)) {
      const pt = checker.getTypeOfSymbolAtLocation(prop, node);
      fields.set(prop.name, checker.typeToString(pt, undefined, ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.InTypeAlias));
    }
    out.set(t.name, fields);
  });
  return out;
}

function shownDefault(spec: OptionTable[string]): string {
  const flag = flagsOf(spec)[0];
  if (flag?.shownDefault !== undefined && flag.shownDefault !== '') return flag.shownDefault;
  const d: unknown = spec.default;
  if (typeof d === 'string') return d === '' ? "'' (none)" : `'${d}'`;
  if (d instanceof URL) return `'${d.href}'`;
  return JSON.stringify(d) ?? 'undefined';
}

/** Words of `text` in lines of at most `width` characters. */
function wrap(text: string, width = 110): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

const comment = (lines: readonly string[], indent: string): string =>
  [`${indent}/**`, ...lines.flatMap((l) => wrap(l)).map((l) => `${indent} * ${l.replace(/\*\//g, '*\\/')}`.trimEnd()), `${indent} */`].join(
    '\n',
  );

export async function generate(): Promise<string> {
  const types = fieldTypes();
  const parts = [
    comment(
      [
        "The library's option types, each field with its doc line and default. Written by",
        '`npm run options` from the option tables in src/options.ts: do not edit; change the tables.',
      ],
      '',
    ),
  ];
  for (const t of TABLES) {
    const fields = types.get(t.name);
    if (fields === undefined) throw new Error(`no ${t.resolved} in src/options.ts`);
    const body: string[] = [];
    for (const [key, spec] of Object.entries(t.table)) {
      if (t.omit?.includes(key)) continue;
      const type = fields.get(key);
      if (type === undefined) throw new Error(`${t.resolved} has no field ${key}`);
      const flags = flagsOf(spec).map((f) => `--${f.flag}`);
      const lines = [spec.doc.replace(/^./, (c) => c.toUpperCase()) + (spec.doc.endsWith('.') ? '' : '.')];
      if (flags.length > 0) lines.push(`Command line: ${flags.join(', ')}.`);
      lines.push(`@default ${shownDefault(spec)}`);
      body.push(`${comment(lines, '  ')}\n  ${key}?: ${type};`);
    }
    if (t.name === 'BrokerOptions') {
      body.push(
        `${comment(['The handler module: a path (relative ones from the working directory), a file: URL, or a URL object.'], '  ')}\n  handler: string | URL;`,
      );
    }
    parts.push(`${comment([t.doc], '')}\nexport interface ${t.name} {\n${body.join('\n')}\n}`);
  }
  const text = `${parts.join('\n\n')}\n`;
  const config = (await prettier.resolveConfig(OUT)) ?? {};
  return prettier.format(text, { ...config, parser: 'typescript' });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { check: { type: 'boolean' } } });
  const text = await generate();
  if (values.check === true) {
    let current = '';
    try {
      current = readFileSync(OUT, 'utf8');
    } catch {
      // missing: differs
    }
    if (current !== text) {
      console.error('option-types: src/option-types.ts is not what the option tables make: run npm run options');
      process.exitCode = 1;
    } else console.log('option-types: src/option-types.ts matches the option tables');
  } else {
    writeFileSync(OUT, text);
    console.log('option-types: wrote src/option-types.ts');
  }
}
