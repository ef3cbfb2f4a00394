#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/**
 * Generates each sensor's TypeScript decoder from the BTF of its compiled object, so the
 * kernel and user-space layouts cannot drift: bpf/build/<s>.bpf.o -> src/sensors/<s>/layout.gen.ts
 * (the container registry, bpf/registry.bpf.c, -> src/registry/layout.gen.ts).
 * Structs named `<s>_*` are generated, with the structs they embed; the shared `cg_*`
 * structs (bpf/include) go once into src/sensors/shared.gen.ts, checked equal in every object.
 * `--check` fails (exit 1) when a committed file differs from what the object says.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const check = process.argv.includes('--check');
const STRING_MAX = 1024; // char arrays up to this size decode as strings; larger ones as bytes

function btfTypes(objectPath) {
  const json = execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', objectPath], { maxBuffer: 64 << 20 });
  const byId = new Map();
  for (const t of JSON.parse(json).types) byId.set(t.id, t);
  return byId;
}

function resolve(byId, id) {
  let t = byId.get(id);
  while (t && ['TYPEDEF', 'CONST', 'VOLATILE'].includes(t.kind)) t = byId.get(t.type_id);
  return t;
}

function fieldOf(byId, member) {
  const t = resolve(byId, member.type_id);
  const offset = member.bits_offset / 8;
  if (t.kind === 'INT') {
    const signed = t.encoding === 'SIGNED';
    if (t.size === 1 && t.name === 'char') return { kind: 'u8', offset, size: 1 };
    const kind = `${signed ? 's' : 'u'}${t.size * 8}`;
    return { kind, offset, size: t.size };
  }
  if (t.kind === 'STRUCT') return { kind: 'struct', struct: t.name, offset, size: t.size };
  if (t.kind === 'ARRAY') {
    const elem = resolve(byId, t.type_id);
    if (elem.kind === 'INT' && elem.size === 1) {
      // char[] is text; __u8[] (unsigned char) is raw bytes, e.g. an address.
      const text = elem.name === 'char' && t.nr_elems <= STRING_MAX;
      return { kind: text ? 'string' : 'bytes', offset, size: t.nr_elems };
    }
    if (elem.kind === 'INT') return { kind: `u${elem.size * 8}[]`, offset, size: t.nr_elems * elem.size, count: t.nr_elems, elemSize: elem.size };
  }
  throw new Error(`unsupported member ${member.name} (${t.kind})`);
}

const tsType = { u8: 'number', u16: 'number', u32: 'number', s32: 'number', u64: 'bigint', s64: 'bigint', string: 'string', bytes: 'Uint8Array' };
const reader = {
  u8: (o) => `v.getUint8(base + ${o})`,
  u16: (o) => `v.getUint16(base + ${o}, true)`,
  u32: (o) => `v.getUint32(base + ${o}, true)`,
  s32: (o) => `v.getInt32(base + ${o}, true)`,
  u64: (o) => `v.getBigUint64(base + ${o}, true)`,
  s64: (o) => `v.getBigInt64(base + ${o}, true)`,
};

function pascal(name) {
  return name.split('_').map((p) => p[0].toUpperCase() + p.slice(1)).join('');
}

function collect(byId, names) {
  const structs = new Map();
  const queue = [...names];
  while (queue.length) {
    const name = queue.shift();
    if (structs.has(name)) continue;
    const t = [...byId.values()].find((x) => x.kind === 'STRUCT' && x.name === name);
    const fields = t.members.map((m) => ({ name: m.name, ...fieldOf(byId, m) }));
    structs.set(name, { name, size: t.size, fields });
    for (const f of fields) if (f.kind === 'struct') queue.push(f.struct);
  }
  return structs;
}

const isShared = (name) => name.startsWith('cg_');

function render(structs, header, importShared, sensorsDir = '..') {
  const out = [...header];
  const own = [...structs.values()].filter((s) => importShared === null || !isShared(s.name));
  const kinds = new Set(own.flatMap((s) => s.fields.map((f) => f.kind)));
  const helpers = ['checkRecord', kinds.has('string') && 'cString', kinds.has('bytes') && 'cBytes'].filter(Boolean);
  if (own.length && helpers.length) out.push(`import { ${helpers.join(', ')} } from '${importShared === null ? './decode.js' : `${sensorsDir}/decode.js`}';`);
  const shared = importShared === null ? [] : [...structs.values()].filter((s) => isShared(s.name));
  if (shared.length) {
    const names = shared.flatMap((s) => [`decode${pascal(s.name)}`, `type ${pascal(s.name)}`]);
    out.push(`import { ${names.join(', ')} } from '${sensorsDir}/shared.gen.js';`);
  }
  for (const s of own.sort((a, b) => a.name.localeCompare(b.name))) {
    const P = pascal(s.name);
    out.push('');
    out.push(`export const ${s.name.toUpperCase()}_SIZE = ${s.size};`);
    out.push(`export const ${P}Layout = {`);
    for (const f of s.fields) out.push(`  ${f.name}: { offset: ${f.offset}, size: ${f.size}, kind: '${f.kind}' },`);
    out.push('} as const;');
    out.push(`export interface ${P} {`);
    for (const f of s.fields) {
      const type = f.kind === 'struct' ? pascal(f.struct) : f.kind.endsWith('[]') ? (f.elemSize === 8 ? 'bigint[]' : 'number[]') : tsType[f.kind];
      out.push(`  ${f.name}: ${type};`);
    }
    out.push('}');
    // A trailing string or byte array may be cut (variable-size records): it need not be there whole.
    const last = s.fields[s.fields.length - 1];
    const min = last && (last.kind === 'string' || last.kind === 'bytes') ? last.offset : s.size;
    out.push(`/** Bytes a \`struct ${s.name}\` record holds at least (a trailing string or byte array may be cut). */`);
    out.push(`export const ${s.name.toUpperCase()}_MIN_SIZE = ${min};`);
    out.push(`/**`);
    out.push(` * Decodes a \`struct ${s.name}\` at \`base\`; strings stop at NUL or at the end of \`v\`.`);
    out.push(` * @throws RangeError naming the struct when fewer than ${s.name.toUpperCase()}_MIN_SIZE bytes follow \`base\`.`);
    out.push(` */`);
    out.push(`export function decode${P}(v: DataView, base = 0): ${P} {`);
    out.push(`  checkRecord(v, base, ${min}, '${s.name}');`);
    out.push('  return {');
    for (const f of s.fields) {
      let expr;
      if (f.kind === 'struct') expr = `decode${pascal(f.struct)}(v, base + ${f.offset})`;
      else if (f.kind === 'string') expr = `cString(v, base + ${f.offset}, ${f.size})`;
      else if (f.kind === 'bytes') expr = `cBytes(v, base + ${f.offset}, ${f.size})`;
      else if (f.kind.endsWith('[]')) expr = `Array.from({ length: ${f.count} }, (_, i) => v.get${f.elemSize === 8 ? 'BigUint64' : `Uint${f.elemSize * 8}`}(base + ${f.offset} + i * ${f.elemSize}${f.elemSize > 1 ? ', true' : ''}))`;
      else expr = reader[f.kind](f.offset);
      out.push(`    ${f.name}: ${expr},`);
    }
    out.push('  };');
    out.push('}');
  }
  return out.join('\n') + '\n';
}

function generate(sensor, objectPath, sensorsDir) {
  const byId = btfTypes(objectPath);
  const want = [...byId.values()].filter((t) => t.kind === 'STRUCT' && t.name?.startsWith(`${sensor}_`)).map((t) => t.name);
  if (want.length === 0) throw new Error(`${objectPath}: no struct named ${sensor}_*`);
  const structs = collect(byId, want);
  const header = [
    '// SPDX-License-Identifier: Apache-2.0',
    `// Generated by scripts/gen-layouts.mjs from the BTF of bpf/build/${sensor}.bpf.o. DO NOT EDIT.`,
    '// The C declaration is the source of truth; run `npm run gen:layouts` after changing it.',
  ];
  return { text: render(structs, header, true, sensorsDir), shared: [...structs.values()].filter((s) => isShared(s.name)) };
}

function renderShared(shared) {
  const header = [
    '// SPDX-License-Identifier: Apache-2.0',
    '// Generated by scripts/gen-layouts.mjs from bpf/include (the same BTF in every object). DO NOT EDIT.',
  ];
  return render(new Map(shared.map((s) => [s.name, s])), header, null);
}

/** Objects whose module is not a sensor's. */
const MODULE_DIRS = { registry: 'src/registry' };

let failed = false;
const outputs = new Map();
const sharedSeen = new Map();
const buildDir = join(root, 'bpf/build');
const sensors = readdirSync(join(root, 'bpf')).filter((f) => f.endsWith('.bpf.c')).map((f) => f.slice(0, -'.bpf.c'.length));
for (const sensor of sensors) {
  const obj = join(buildDir, `${sensor}.bpf.o`);
  if (!existsSync(obj)) {
    console.error(`gen-layouts: ${obj} missing: run npm run build:bpf first`);
    process.exit(2);
  }
  const moduleDir = MODULE_DIRS[sensor] ?? join('src/sensors', sensor);
  if (!existsSync(join(root, moduleDir))) continue; // helper objects (doctor probes) have no module
  const { text, shared } = generate(sensor, obj, MODULE_DIRS[sensor] ? '../sensors' : '..');
  outputs.set(join(root, moduleDir, 'layout.gen.ts'), text);
  for (const s of shared) {
    const prev = sharedSeen.get(s.name);
    if (prev && JSON.stringify(prev) !== JSON.stringify(s)) {
      console.error(`gen-layouts: struct ${s.name} differs between objects`);
      process.exit(1);
    }
    sharedSeen.set(s.name, s);
  }
}
outputs.set(join(root, 'src/sensors/shared.gen.ts'), renderShared([...sharedSeen.values()]));
for (const [target, text] of outputs) {
  if (check) {
    const current = existsSync(target) ? readFileSync(target, 'utf8') : '';
    if (current !== text) {
      console.error(`gen-layouts: ${target} is out of date with the compiled objects`);
      failed = true;
    }
  } else {
    writeFileSync(target, text);
    console.log(`gen-layouts: wrote ${target}`);
  }
}
process.exit(failed ? 1 : 0);
