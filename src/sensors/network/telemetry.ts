// SPDX-License-Identifier: Apache-2.0
/** network sensor telemetry: every metric, event and attribute it emits (rendered into README). */
import type { TelemetrySpec } from '../sensor.js';
import { CONTAINER_ATTRIBUTES, METRIC_ATTRIBUTE_KEYS } from '../../telemetry/container-attributes.js';

export const NET_CONNECT_EVENT = 'contguard.network.connect';
export const NET_FAILED_EVENT = 'contguard.network.failed';
export const NET_CLOSE_EVENT = 'contguard.network.close';
export const NET_VIOLATION_EVENT = 'contguard.network.policy_violation';
export const NET_CONNECTIONS_COUNTER = 'contguard.network.connections';
export const NET_VIOLATIONS_COUNTER = 'contguard.network.policy_violations';
export const NET_IO_COUNTER = 'container.network.io';

const CONNECTION_ATTRIBUTES: Record<string, string> = {
  ...CONTAINER_ATTRIBUTES,
  'network.transport': 'tcp or udp',
  'network.type': 'ipv4 or ipv6',
  'network.local.address': 'this side’s address',
  'network.local.port': 'this side’s port',
  'network.peer.address': 'the other side’s address (as this side’s socket sees it: a published port’s host address before DNAT)',
  'network.peer.port': 'the other side’s port',
  'network.io.direction': 'transmit: this container connected out; receive: it accepted on a listener',
  'process.pid': 'this side’s process (the connecting task; for an accepted connection, the task that called listen)',
  'process.executable.name': 'its comm',
  'contguard.network.peer.container.id': 'the peer container, when the peer address belongs to a container on this host',
  'contguard.network.peer.container.name': 'its name',
  'contguard.network.peer.container.image.name': 'its image',
  'contguard.network.peer.container.label.<key>': 'its labels (at most 64)',
  'contguard.network.peer.process.pid': 'the peer’s process, when both ends are containers on this host (one joined record)',
  'contguard.network.peer.process.name': 'its comm',
  'contguard.network.peer.via': 'how the peer was resolved: address, loopback, published_port or shared_namespace',
  'contguard.network.netns': 'network namespace inode of the socket',
};

export const networkTelemetry: TelemetrySpec = {
  metrics: [
    {
      name: NET_CONNECTIONS_COUNTER,
      instrument: 'counter',
      unit: '{connection}',
      description: 'TCP connections of a container by direction, peer container (or "external") and result (established or failed); UDP flows (first datagram per interval) with result sent.',
      attributes: [...METRIC_ATTRIBUTE_KEYS, 'network.io.direction', 'contguard.network.peer', 'contguard.network.result'],
    },
    {
      name: NET_VIOLATIONS_COUNTER,
      instrument: 'counter',
      unit: '{connection}',
      description: 'Connections sensors.network.policy does not allow, per container (the client side) and rule or reason.',
      attributes: [...METRIC_ATTRIBUTE_KEYS, 'contguard.network.violation'],
    },
    {
      name: NET_IO_COUNTER,
      instrument: 'counter',
      unit: 'By',
      description: 'Bytes a container sent and received (all its sockets, every protocol), counted in the kernel by cgroup_skb programs attached to its cgroup (cgroup v2 and hybrid hosts).',
      attributes: [...METRIC_ATTRIBUTE_KEYS, 'network.io.direction'],
    },
  ],
  events: [
    {
      name: NET_CONNECT_EVENT,
      severity: 'INFO',
      description:
        'A TCP connection of a container is established, outbound (the connecting task) or inbound (the listening socket’s owner). When both ends are containers on this host it is one joined record, from the client’s side, naming both ends with address, port, pid and comm. For UDP: the first datagram of a container to a peer address and port in sensors.network.udp_interval_ms (seen on its way out: no process).',
      attributes: CONNECTION_ATTRIBUTES,
    },
    {
      name: NET_FAILED_EVENT,
      severity: 'INFO',
      description: 'An outbound TCP connect of a container failed (refused, reset, timed out, unreachable).',
      attributes: { ...CONNECTION_ATTRIBUTES, 'error.type': 'ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ECONNRESET, ... (the socket’s error)', 'contguard.network.duration_ms': 'from connect() to the failure' },
    },
    {
      name: NET_CLOSE_EVENT,
      severity: 'INFO',
      description: 'A TCP connection this sensor saw established is closed (each side that is a container has its own record).',
      attributes: {
        ...CONNECTION_ATTRIBUTES,
        'contguard.network.duration_ms': 'from establishment to close',
        'contguard.network.bytes_sent': 'bytes this side sent that the peer acknowledged (tcp_sock.bytes_acked)',
        'contguard.network.bytes_received': 'bytes this side received (tcp_sock.bytes_received)',
        'contguard.network.retransmits': 'segments retransmitted (tcp_sock.total_retrans)',
      },
    },
    {
      name: NET_VIOLATION_EVENT,
      severity: 'WARN',
      description: 'A connection sensors.network.policy does not allow (with rules set; without rules the sensor only observes).',
      attributes: { ...CONNECTION_ATTRIBUTES, 'security_rule.name': 'the rule that was closest, when one names the pair', 'contguard.network.violation': 'the reason: "no rule matched" or "egress not allowed"' },
    },
  ],
};
