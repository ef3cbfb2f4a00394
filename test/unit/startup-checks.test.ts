// SPDX-License-Identifier: Apache-2.0
/** Checks made before anything starts: where OTLP headers may go, and the BTF file. */
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG, checkOtlpHeaderTransport, isLoopbackHost, parseConfig } from '../../src/config.js';
import { AgentStartError, KERNEL_BTF, checkBtf, checkPrivileges } from '../../src/agent.js';

const withHeaders = parseConfig('outputs:\n  otlp:\n    headers: { authorization: "Bearer t" }\n', 'x.yaml');
const optIn = parseConfig('outputs:\n  otlp:\n    headers: { authorization: "Bearer t" }\n    allow_plaintext_headers: true\n', 'x.yaml');

describe('isLoopbackHost', () => {
  it.each(['localhost', 'LOCALHOST', 'a.localhost', '127.0.0.1', '127.8.9.10', '[::1]', '::1', '[::ffff:127.0.0.1]', '0:0:0:0:0:0:0:1'])('%s is loopback', (h) => {
    expect(isLoopbackHost(h)).toBe(true);
  });
  it.each(['10.0.0.5', '128.0.0.1', 'collector', 'localhost.example.com', '[::2]', '0.0.0.0', '[::]', '127.0.0.1.nip.io'])('%s is not', (h) => {
    expect(isLoopbackHost(h)).toBe(false);
  });
});

describe('checkOtlpHeaderTransport: headers never go in plaintext off the host without an opt-in', () => {
  it('refuses configured headers to an http:// endpoint that is not loopback, in one line naming both ways out', () => {
    expect(() => checkOtlpHeaderTransport(withHeaders, 'http://10.0.0.5:4317', {})).toThrow(
      new ConfigError(
        'outputs.otlp.headers: not sent in plaintext to http://10.0.0.5:4317 (not loopback): use an https:// endpoint or set outputs.otlp.allow_plaintext_headers: true',
      ),
    );
  });

  it('refuses headers from the environment too (each variable the exporters read)', () => {
    for (const name of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_LOGS_HEADERS', 'OTEL_EXPORTER_OTLP_METRICS_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS']) {
      expect(() => checkOtlpHeaderTransport(DEFAULT_CONFIG, 'http://collector:4317', { [name]: 'api-key=x' })).toThrow(`environment ${name}: not sent in plaintext to http://collector:4317`);
    }
  });

  it('passes https://, loopback, no headers, no endpoint, and the explicit opt-in', () => {
    expect(() => checkOtlpHeaderTransport(withHeaders, 'https://collector:4317', {})).not.toThrow();
    expect(() => checkOtlpHeaderTransport(withHeaders, 'http://127.0.0.1:4317', {})).not.toThrow();
    expect(() => checkOtlpHeaderTransport(withHeaders, 'http://localhost:4317', {})).not.toThrow();
    expect(() => checkOtlpHeaderTransport(withHeaders, 'http://[::1]:4317', {})).not.toThrow();
    expect(() => checkOtlpHeaderTransport(DEFAULT_CONFIG, 'http://10.0.0.5:4317', { OTEL_EXPORTER_OTLP_HEADERS: '  ' })).not.toThrow();
    expect(() => checkOtlpHeaderTransport(withHeaders, null, {})).not.toThrow();
    expect(() => checkOtlpHeaderTransport(optIn, 'http://10.0.0.5:4317', {})).not.toThrow();
  });
});

describe('checkBtf', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-btf-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the kernel BTF, a raw BTF file and an ELF file', () => {
    if (existsSync(KERNEL_BTF)) {
      expect(() => checkBtf(null)).not.toThrow();
      const copy = join(dir, 'vmlinux');
      writeFileSync(copy, readFileSync(KERNEL_BTF).subarray(0, 64));
      expect(() => checkBtf(copy)).not.toThrow();
    }
    expect(() => checkBtf(process.execPath)).not.toThrow(); // node itself is an ELF file
  });

  it('a missing or non-BTF btf_path is one line naming the file', () => {
    expect(() => checkBtf(join(dir, 'nope'))).toThrow(new AgentStartError(`btf_path ${join(dir, 'nope')}: no such file`));
    const text = join(dir, 'text');
    writeFileSync(text, 'hello\n');
    expect(() => checkBtf(text)).toThrow(`btf_path ${text}: not a BTF file (neither BTF nor ELF magic)`);
    expect(() => checkBtf(dir)).toThrow(new RegExp(`^btf_path ${dir}: cannot read \\(EISDIR\\)$`));
  });
});

describe('checkPrivileges', () => {
  const bit = (...bits: number[]) => bits.reduce((m, b) => m | (1n << BigInt(b)), 0n);
  const BPF = 39, PERFMON = 38, SYS_ADMIN = 21, DAC_READ_SEARCH = 2;

  it('passes root with CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN; a non-root uid with CAP_DAC_READ_SEARCH too', () => {
    expect(() => checkPrivileges(bit(BPF, PERFMON), [6, 18], 0)).not.toThrow();
    expect(() => checkPrivileges(bit(SYS_ADMIN), [6, 18], 0)).not.toThrow();
    expect(() => checkPrivileges(bit(BPF, PERFMON, DAC_READ_SEARCH), [6, 18], 998)).not.toThrow();
  });

  it('refuses in one line naming everything missing', () => {
    expect(() => checkPrivileges(0n, [6, 18], 998)).toThrow(
      new AgentStartError(
        'insufficient privileges: eBPF: missing CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN): cannot load or attach eBPF programs; files: missing CAP_DAC_READ_SEARCH: uid 998 cannot read tracefs (root-only) to attach tracepoints (README "Privileges")',
      ),
    );
  });

  it('leaves RLIMIT_MEMLOCK (kernels < 5.11) to libbpf: a raised limit serves without CAP_SYS_RESOURCE', () => {
    expect(() => checkPrivileges(bit(BPF, PERFMON), [5, 10], 0)).not.toThrow();
  });
});
