// SPDX-License-Identifier: Apache-2.0
/** network sensor in user space: the kernel's constants, addresses, record attributes. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DIR_RECEIVE, DIR_TRANSMIT, KIND_ACCEPT, KIND_CLOSE, KIND_CONNECT, KIND_FAILED, KIND_UDP, connectionAttributes, formatAddress, networkSpanEventAttributes, ownerImage } from '../../src/sensors/network/index.js';
import type { NetworkEvent } from '../../src/sensors/network/layout.gen.js';

const header = readFileSync(new URL('../../bpf/network.h', import.meta.url), 'utf8');
const define = (name: string) => {
  const m = new RegExp(`#define ${name}\\s+(\\d+)`).exec(header);
  if (!m) throw new Error(`no #define ${name}`);
  return Number(m[1]);
};

const v6 = (text: string) => {
  // Test-only expander for "a:b::c" forms.
  const [head, tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map((g) => parseInt(g, 16));
  return Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
};

describe('network: user space and bpf/network.h agree', () => {
  it('uses the header’s event kinds and directions', () => {
    expect(KIND_CONNECT).toBe(define('NETWORK_KIND_CONNECT'));
    expect(KIND_ACCEPT).toBe(define('NETWORK_KIND_ACCEPT'));
    expect(KIND_FAILED).toBe(define('NETWORK_KIND_FAILED'));
    expect(KIND_CLOSE).toBe(define('NETWORK_KIND_CLOSE'));
    expect(KIND_UDP).toBe(define('NETWORK_KIND_UDP'));
    expect(DIR_TRANSMIT).toBe(define('NETWORK_DIR_TRANSMIT'));
    expect(DIR_RECEIVE).toBe(define('NETWORK_DIR_RECEIVE'));
  });
});

describe('formatAddress', () => {
  it('IPv4 from the first four bytes', () => {
    expect(formatAddress(Uint8Array.from([172, 17, 0, 3, ...Array(12).fill(9)]), 2)).toBe('172.17.0.3');
  });
  it.each(['fd00:cafe::2', '::1', '2001:db8::1:0:0:1', 'fe80::42:acff:fe11:3', '1:2:3:4:5:6:7:8', '::'])('IPv6 %s in RFC 5952 form', (text) => {
    expect(formatAddress(v6(text), 10)).toBe(text);
  });
  it('an IPv4-mapped IPv6 peer of a dual-stack socket is its IPv4 address', () => {
    expect(formatAddress(v6('::ffff:ac11:19'), 10)).toBe('172.17.0.25');
  });
});

describe('connectionAttributes', () => {
  const event = (over: Partial<NetworkEvent> = {}): NetworkEvent =>
    ({
      timestamp_ns: 0n,
      duration_ns: 0n,
      bytes_sent: 0n,
      bytes_received: 0n,
      owner: { cgroup_id: 1n, start_ns: 0n, process_start_ns: 9_000_000n, exec_id: 2n, slot: 0, tgid: 42, direction: DIR_TRANSMIT, local_port: 0, pad: 0, comm: 'wget' },
      kind: KIND_CONNECT,
      netns: 4026532000,
      family: 2,
      protocol: 6,
      error: 0,
      retransmits: 0,
      local_port: 40000,
      peer_port: 8080,
      pad: 0,
      local_addr: Uint8Array.from([172, 17, 0, 2, ...Array(12).fill(0)]),
      peer_addr: Uint8Array.from([172, 17, 0, 3, ...Array(12).fill(0)]),
      cgroup: { cgroup_id: 1n, name: '', parent_name: '' },
      ...over,
    }) as NetworkEvent;

  it('semantic-convention names, both ends, the peer container and process when joined', () => {
    const a = connectionAttributes(event(), { container: { id: 'b'.repeat(64), name: 'web', image: 'nginx', labels: {} }, via: 'address' }, { pid: 7, comm: 'httpd' });
    expect(a).toMatchObject({
      'network.transport': 'tcp',
      'network.type': 'ipv4',
      'network.local.address': '172.17.0.2',
      'network.local.port': 40000,
      'network.peer.address': '172.17.0.3',
      'network.peer.port': 8080,
      'network.io.direction': 'transmit',
      'process.pid': 42,
      'process.executable.name': 'wget',
      'contguard.network.peer.container.name': 'web',
      'contguard.network.peer.container.image.name': 'nginx',
      'contguard.network.peer.process.pid': 7,
      'contguard.network.peer.process.name': 'httpd',
      'contguard.network.peer.via': 'address',
    });
  });

  it('an inbound side says receive; a failed connect without a local port leaves it out', () => {
    const inbound = connectionAttributes(event({ owner: { ...event().owner, direction: DIR_RECEIVE } }), null, null);
    expect(inbound['network.io.direction']).toBe('receive');
    expect(inbound['contguard.network.peer.container.name']).toBeUndefined();
    expect(connectionAttributes(event({ local_port: 0 }), null, null)['network.local.port']).toBeUndefined();
  });

  it('with traces: the socket owner\'s process image names the span; a span event keeps the peer, transport and error', () => {
    expect(ownerImage(event())).toEqual({ pid: 42, startNs: 9_000_000n, execId: 2n });
    expect(ownerImage(event({ kind: KIND_UDP, owner: { ...event().owner, tgid: 0 } }))).toBeNull(); // a datagram: no process
    const a = { ...connectionAttributes(event({ kind: KIND_FAILED, local_port: 0 }), { container: { id: 'b'.repeat(64), name: 'db', labels: {} }, via: 'address' }, null), 'error.type': 'ECONNREFUSED' };
    expect(networkSpanEventAttributes({ 'container.id': 'c', ...a })).toEqual({
      'network.transport': 'tcp',
      'network.type': 'ipv4',
      'network.peer.address': '172.17.0.3',
      'network.peer.port': 8080,
      'contguard.network.peer.container.name': 'db',
      'error.type': 'ECONNREFUSED',
    });
  });
});
