// SPDX-License-Identifier: Apache-2.0
/**
 * network sensor: who talks to whom. TCP connections of containers from the kernel
 * (bpf/network.bpf.c), both ends named when both are containers on this host (one joined
 * record), failures with the reason, closes with duration and bytes, and an optional policy.
 */
import type { Sensor, SensorContext, SensorInstance } from '../sensor.js';
import type { BpfObject } from '../../../ffi/bpf-object.js';
import { MappedArray } from '../../../ffi/mmap.js';
import type { ContainerInfo } from '../../containers/attributor.js';
import { REGISTRY_VARIANT_TP_BTF } from '../../registry/index.js';
import { NO_SLOT } from '../../registry/index-table.js';
import { containerRecord, metricAttributes } from '../../telemetry/container-attributes.js';
import type { Attributes, EventRecord } from '../../telemetry/record.js';
import { quoteArg } from '../../telemetry/escape.js';
import { recordTraceFields, type RecordTraceFields } from '../../telemetry/traces.js';
import type { ImageId } from '../../telemetry/trace-ids.js';
import { decodeNetworkEvent, type NetworkEvent } from './layout.gen.js';
import { PeerDirectory, handlePeerDockerEvent, normalizeAddress, type PeerMatch } from './peers.js';
import { compilePolicy, evaluate, type Flow } from './policy.js';
import {
  NET_CLOSE_EVENT,
  NET_CONNECTIONS_COUNTER,
  NET_CONNECT_EVENT,
  NET_FAILED_EVENT,
  NET_IO_COUNTER,
  NET_VIOLATIONS_COUNTER,
  NET_VIOLATION_EVENT,
  networkTelemetry,
} from './telemetry.js';

/** Mirror bpf/network.h (checked by test/unit/network.test.ts). */
export const KIND_CONNECT = 1;
export const KIND_ACCEPT = 2;
export const KIND_FAILED = 3;
export const KIND_CLOSE = 4;
export const KIND_UDP = 5;
const IPPROTO_UDP = 17;
export const DIR_TRANSMIT = 1;
export const DIR_RECEIVE = 2;
export const IO_TRANSMIT = 0;
export const IO_RECEIVE = 1;
const AF_INET6 = 10;

const ERRNO_NAMES: Record<number, string> = {
  104: 'ECONNRESET',
  110: 'ETIMEDOUT',
  111: 'ECONNREFUSED',
  113: 'EHOSTUNREACH',
  101: 'ENETUNREACH',
  103: 'ECONNABORTED',
  22: 'EINVAL',
};

/** An address from the kernel's bytes (network order; IPv4 in the first four; an IPv4-mapped
 * IPv6 peer of a dual-stack socket as its IPv4 address, as the other end sees it). */
export function formatAddress(bytes: Uint8Array, family: number): string {
  return normalizeAddress(family === AF_INET6 ? bytes.subarray(0, 16) : bytes.subarray(0, 4)) ?? '';
}

interface Side {
  container: ContainerInfo | null;
  address: string;
  port: number;
  pid: number;
  comm: string;
}

/** "name(addr:port comm)" as the original tool wrote each end. */
function sideText(s: Side, peerName?: string): string {
  const who = s.container?.attributes['container.name'] ?? (s.container ? String(s.container.id).slice(0, 12) : peerName ?? 'external');
  const host = s.address.includes(':') ? `[${s.address}]` : s.address;
  return `${quoteArg(String(who))}(${host}:${s.port}${s.comm ? ` comm:${quoteArg(s.comm)}` : ''})`;
}

export function connectionAttributes(e: NetworkEvent, peer: PeerMatch | null, peerProcess: { pid: number; comm: string } | null): Attributes {
  const a: Attributes = {
    'network.transport': e.protocol === IPPROTO_UDP ? 'udp' : 'tcp',
    'network.type': formatAddress(e.peer_addr, e.family).includes(':') ? 'ipv6' : 'ipv4',
    'network.local.address': formatAddress(e.local_addr, e.family),
  };
  if (e.local_port) a['network.local.port'] = e.local_port; // a failed connect has none left
  Object.assign(a, {
    'network.peer.address': formatAddress(e.peer_addr, e.family),
    'network.peer.port': e.peer_port,
    'network.io.direction': e.owner.direction === DIR_RECEIVE ? 'receive' : 'transmit',
    'contguard.network.netns': e.netns,
  });
  if (e.owner.tgid) {
    a['process.pid'] = e.owner.tgid; // a UDP datagram is seen on its way out: no process
    a['process.executable.name'] = e.owner.comm;
  }
  if (peer) {
    a['contguard.network.peer.container.id'] = peer.container.id;
    if (peer.container.name) a['contguard.network.peer.container.name'] = peer.container.name;
    if (peer.container.image) a['contguard.network.peer.container.image.name'] = peer.container.image;
    a['contguard.network.peer.via'] = peer.via;
    let n = 0;
    for (const [k, v] of Object.entries(peer.container.labels ?? {})) {
      if (n++ >= 64) break; // as many as a container's own labels
      a[`contguard.network.peer.container.label.${k}`] = v;
    }
  }
  if (peerProcess) {
    a['contguard.network.peer.process.pid'] = peerProcess.pid;
    a['contguard.network.peer.process.name'] = peerProcess.comm;
  }
  return a;
}

/** What a span event of the socket owner's process keeps of a record's attributes. */
const SPAN_EVENT_KEYS = [
  'network.transport',
  'network.type',
  'network.peer.address',
  'network.peer.port',
  'network.local.port',
  'contguard.network.peer.container.name',
  'contguard.network.peer.process.name',
  'error.type',
  'contguard.network.violation',
  'security_rule.name',
] as const;

export function networkSpanEventAttributes(a: Attributes): Attributes {
  const out: Attributes = {};
  for (const k of SPAN_EVENT_KEYS) if (a[k] !== undefined) out[k] = a[k];
  return out;
}

/** The socket owner's process image at connect() or listen() (bpf/process.h names it the same way); null for UDP (no process). */
export function ownerImage(e: NetworkEvent): ImageId | null {
  return e.owner.tgid ? { pid: e.owner.tgid, startNs: e.owner.process_start_ns, execId: e.owner.exec_id } : null;
}

interface Pending {
  event: NetworkEvent;
  container: ContainerInfo | null;
  peer: PeerMatch | null;
  time: bigint;
  timer: NodeJS.Timeout;
}

export const networkSensor: Sensor = {
  name: 'network',
  telemetry: networkTelemetry,
  enabled: (cfg) => cfg.sensors.network.enabled,
  variants: (_cfg, env) => [env.registryVariant],
  configure(obj: BpfObject, cfg, variant) {
    const btf = variant === REGISTRY_VARIANT_TP_BTF;
    obj.setAutoload('cg_net_state', btf);
    obj.setAutoload('cg_net_state_raw', !btf);
    obj.resizeMap('cg_net_events', cfg.sensors.network.ring_buffer_bytes);
    obj.resizeMap('cg_net_socks', cfg.sensors.network.max_sockets);
    obj.resizeMap('cg_net_io', cfg.registry.max_containers * 2);
    obj.setRodata({ net_udp_interval_ns: BigInt(cfg.sensors.network.udp_interval_ms) * 1_000_000n });
  },
  start(obj: BpfObject, ctx: SensorContext): SensorInstance {
    const cfg = ctx.config.sensors.network;
    const includeHost = ctx.config.include_host;
    const peers = new PeerDirectory();
    const policy = compilePolicy(cfg.policy);
    const connections = ctx.meter.createCounter(NET_CONNECTIONS_COUNTER, { unit: '{connection}', description: networkTelemetry.metrics[0].description });
    const violations = ctx.meter.createCounter(NET_VIOLATIONS_COUNTER, { unit: '{connection}', description: networkTelemetry.metrics[1].description });
    const docker = ctx.docker;

    // container.network.io: bytes per container slot, counted by cgroup_skb programs.
    const io = MappedArray.mapU64(obj.mapFd('cg_net_io'), ctx.config.registry.max_containers * 2, 'cg_net_io');
    ctx.meter
      .createObservableCounter(NET_IO_COUNTER, { unit: 'By', description: networkTelemetry.metrics[2].description })
      .addCallback((result) => {
        if (io.isClosed) return;
        const v = io.u64;
        for (const entry of ctx.registryEntries.values()) {
          if (!entry.container) continue;
          const base = metricAttributes(entry.container.attributes);
          result.observe(Number(v[entry.slot * 2 + IO_TRANSMIT] ?? 0n), { ...base, 'network.io.direction': 'transmit' });
          result.observe(Number(v[entry.slot * 2 + IO_RECEIVE] ?? 0n), { ...base, 'network.io.direction': 'receive' });
        }
      });

    // The peer directory follows the registry: a container's addresses and published ports.
    // (refresh and seed drop answers overtaken by a removal, and never reject.)
    const learn = async (id: string) => {
      if (docker) await peers.refresh(docker, id);
    };
    if (docker) void ctx.track(peers.seed(docker));

    const containerOf = (e: NetworkEvent): ContainerInfo | null | undefined => {
      if (e.owner.slot !== NO_SLOT) {
        const entry = ctx.registryEntries.get(e.owner.slot);
        if (entry && entry.cgroupId === e.owner.cgroup_id && entry.container) return entry.container;
      }
      return ctx.containers.attributeKnown({ cgroupId: e.owner.cgroup_id });
    };

    const resolvePeer = (e: NetworkEvent, container: ContainerInfo | null): PeerMatch | null =>
      peers.resolve(formatAddress(e.peer_addr, e.family), e.peer_port, 'tcp', { netnsInode: e.netns, localContainerId: container?.id });

    const partyOf = (container: ContainerInfo | null, address: string) => ({
      container: container
        ? {
            id: container.id,
            name: String(container.attributes['container.name'] ?? container.id),
            image: String(container.attributes['container.image.name'] ?? ''),
            labels: container.metadata?.labels ?? {},
          }
        : undefined,
      address,
    });

    // With traces, a record names the span of the socket owner's process, and is an event of it.
    const traceOf = (container: ContainerInfo | null, e: NetworkEvent, severity: 'INFO' | 'WARN'): RecordTraceFields => {
      const tracer = container ? ctx.traces?.processes : null;
      const image = tracer ? ownerImage(e) : null;
      return image ? recordTraceFields(tracer, container!.id, e.owner.cgroup_id, image, e.timestamp_ns, severity) : {};
    };
    const spanEvent = (container: ContainerInfo | null, e: NetworkEvent, name: string, attributes: Attributes) => {
      const tracer = container ? ctx.traces?.processes : null;
      const image = tracer ? ownerImage(e) : null;
      if (image) tracer!.spanEvent(e.owner.cgroup_id, image, { name, atNs: e.timestamp_ns, attributes: networkSpanEventAttributes(attributes), comm: e.owner.comm });
    };

    /** `source`: the kernel event of the record's process (its span gets the violation too). */
    const checkPolicy = (record: EventRecord, flow: Flow, local: ContainerInfo | null, source: NetworkEvent) => {
      const verdict = evaluate(policy, flow);
      if (!verdict || verdict.allowed) return;
      const reason = verdict.reason ?? 'no rule matched';
      const attributes: Attributes = Object.assign({}, record.attributes, { 'contguard.network.violation': reason });
      if (verdict.rule) attributes['security_rule.name'] = verdict.rule;
      ctx.emit(
        Object.assign(
          { eventName: NET_VIOLATION_EVENT, timeUnixNano: record.timeUnixNano, severity: 'WARN' as const, body: `not allowed (${reason}): ${record.body}`, attributes },
          traceOf(local, source, 'WARN'),
        ),
      );
      spanEvent(local, source, 'network.policy_violation', attributes);
      violations.add(1, Object.assign(metricAttributes(local?.attributes), { 'contguard.network.violation': reason }));
    };

    const count = (container: ContainerInfo | null, direction: string, peer: PeerMatch | null, result: string) =>
      connections.add(
        1,
        Object.assign(metricAttributes(container?.attributes), {
          'network.io.direction': direction,
          'contguard.network.peer': peer?.container.name ?? (peer ? peer.container.id : 'external'),
          'contguard.network.result': result,
        }),
      );

    /** One record for a connection: from the client's side, both ends named when known. */
    const emitConnect = (client: Pending, server: { event: NetworkEvent; container: ContainerInfo | null } | null) => {
      const e = client.event;
      const peerProcess = server ? { pid: server.event.owner.tgid, comm: server.event.owner.comm } : null;
      const local: Side = { container: client.container, address: formatAddress(e.local_addr, e.family), port: e.local_port, pid: e.owner.tgid, comm: e.owner.comm };
      const remote: Side = {
        container: server?.container ?? null,
        address: formatAddress(e.peer_addr, e.family),
        port: e.peer_port,
        pid: peerProcess?.pid ?? 0,
        comm: peerProcess?.comm ?? '',
      };
      const inbound = e.owner.direction === DIR_RECEIVE;
      const arrow = inbound ? `${sideText(remote, client.peer?.container.name)} --> ${sideText(local)}` : `${sideText(local)} --> ${sideText(remote, client.peer?.container.name)}`;
      const attributes = connectionAttributes(e, client.peer, peerProcess);
      const record = Object.assign(
        containerRecord(client.container?.attributes, Object.assign({}, attributes), { eventName: NET_CONNECT_EVENT, timeUnixNano: client.time, severity: 'INFO', body: arrow }),
        traceOf(client.container, e, 'INFO'),
      );
      ctx.emit(record);
      spanEvent(client.container, e, inbound ? 'network.accept' : 'network.connect', attributes);
      // Both ends here: the server's process gets its side too (the client as its peer).
      if (server) {
        const clientAsPeer = client.container ? asPeer(client.container) : null;
        spanEvent(server.container, server.event, 'network.accept', connectionAttributes(server.event, clientAsPeer, { pid: e.owner.tgid, comm: e.owner.comm }));
      }
      count(client.container, inbound ? 'receive' : 'transmit', client.peer, 'established');
      if (server) count(server.container, 'receive', { container: { id: client.container?.id ?? '', name: String(client.container?.attributes['container.name'] ?? ''), image: '', labels: {} }, via: 'address' }, 'established');
      const localAddr = local.address;
      const peerParty = client.peer
        ? { container: { id: client.peer.container.id, name: client.peer.container.name ?? client.peer.container.id, image: client.peer.container.image ?? '', labels: client.peer.container.labels ?? {} }, address: remote.address }
        : partyOf(null, remote.address);
      const flow: Flow = inbound
        ? { transport: 'tcp', client: peerParty, server: partyOf(client.container, localAddr), serverPort: e.local_port }
        : { transport: 'tcp', client: partyOf(client.container, localAddr), server: peerParty, serverPort: e.peer_port };
      checkPolicy(record, flow, client.container, e);
    };

    // Both ends here: the client's CONNECT and the server's ACCEPT are the same 4-tuple seen
    // from each side (no NAT between containers on one host); whichever comes first waits up
    // to join_window_ms for the other, then is written alone.
    const pending = new Map<string, Pending>();
    const tuple = (clientAddr: string, clientPort: number, serverAddr: string, serverPort: number) =>
      `${clientAddr}|${clientPort}|${serverAddr}|${serverPort}`;
    const hold = (key: string, p: Omit<Pending, 'timer'>, onAlone: (p: Pending) => void) => {
      const held: Pending = { ...p, timer: setTimeout(() => {
        if (pending.get(key) === held) pending.delete(key);
        onAlone(held);
      }, cfg.join_window_ms) };
      held.timer.unref();
      pending.set(key, held);
    };
    const asPeer = (c: ContainerInfo | null): PeerMatch | null =>
      c
        ? {
            container: {
              id: c.id,
              name: c.attributes['container.name'] as string | undefined,
              image: c.attributes['container.image.name'] as string | undefined,
              labels: c.metadata?.labels ?? {},
            },
            via: 'address',
          }
        : null;

    const onEstablished = (e: NetworkEvent, container: ContainerInfo | null, time: bigint) => {
      if (!container && !includeHost) return;
      const peer = resolvePeer(e, container);
      const local = formatAddress(e.local_addr, e.family);
      const remote = formatAddress(e.peer_addr, e.family);
      const self: Pending = { event: e, container, peer, time, timer: undefined as unknown as NodeJS.Timeout };
      if (e.kind === KIND_CONNECT) {
        const key = tuple(local, e.local_port, remote, e.peer_port);
        const accepted = pending.get(key);
        if (accepted) {
          clearTimeout(accepted.timer);
          pending.delete(key);
          emitConnect({ ...self, peer: peer ?? asPeer(accepted.container) }, { event: accepted.event, container: accepted.container });
          return;
        }
        // A peer that may be a container here: wait for its side; anything else at once.
        if (peer && cfg.join_window_ms > 0) hold(key, self, (p) => emitConnect(p, null));
        else emitConnect(self, null);
        return;
      }
      // ACCEPT: the server's side, held for the client's side (a container here) to join.
      const key = tuple(remote, e.peer_port, local, e.local_port);
      const connected = pending.get(key);
      if (connected) {
        clearTimeout(connected.timer);
        pending.delete(key);
        emitConnect({ ...connected, peer: connected.peer ?? asPeer(container) }, { event: e, container });
        return;
      }
      if (cfg.join_window_ms > 0) hold(key, self, (p) => emitConnect(p, null));
      else emitConnect(self, null);
    };

    const onFailed = (e: NetworkEvent, container: ContainerInfo | null, time: bigint) => {
      if (!container && !includeHost) return;
      const peer = resolvePeer(e, container);
      const error = ERRNO_NAMES[e.error] ?? `errno ${e.error}`;
      const local: Side = { container, address: formatAddress(e.local_addr, e.family), port: e.local_port, pid: e.owner.tgid, comm: e.owner.comm };
      const remote: Side = { container: null, address: formatAddress(e.peer_addr, e.family), port: e.peer_port, pid: 0, comm: '' };
      const attributes = Object.assign(connectionAttributes(e, peer, null), { 'error.type': error, 'contguard.network.duration_ms': Number(e.duration_ns / 1_000_000n) });
      ctx.emit(
        Object.assign(
          containerRecord(container?.attributes, Object.assign({}, attributes), {
            eventName: NET_FAILED_EVENT,
            timeUnixNano: time,
            severity: 'INFO',
            body: `${sideText(local)} -x-> ${sideText(remote, peer?.container.name)} ${error}`,
          }),
          traceOf(container, e, 'INFO'),
        ),
      );
      spanEvent(container, e, 'network.failed', attributes);
      count(container, 'transmit', peer, 'failed');
    };

    const onClose = (e: NetworkEvent, container: ContainerInfo | null, time: bigint) => {
      if (!container && !includeHost) return;
      const peer = resolvePeer(e, container);
      const local: Side = { container, address: formatAddress(e.local_addr, e.family), port: e.local_port, pid: e.owner.tgid, comm: e.owner.comm };
      const remote: Side = { container: null, address: formatAddress(e.peer_addr, e.family), port: e.peer_port, pid: 0, comm: '' };
      const own = Object.assign(connectionAttributes(e, peer, null), {
        'contguard.network.duration_ms': Number(e.duration_ns / 1_000_000n),
        'contguard.network.bytes_sent': Number(e.bytes_sent),
        'contguard.network.bytes_received': Number(e.bytes_received),
        'contguard.network.retransmits': e.retransmits,
      });
      const record = containerRecord(container?.attributes, own, {
        eventName: NET_CLOSE_EVENT,
        timeUnixNano: time,
        severity: 'INFO',
        body: `${sideText(local)} x ${sideText(remote, peer?.container.name)} after ${Number(e.duration_ns / 1_000_000n)} ms, sent ${e.bytes_sent} B, received ${e.bytes_received} B`,
      });
      ctx.emit(Object.assign(record, traceOf(container, e, 'INFO')));
    };

    const onUdp = (e: NetworkEvent, container: ContainerInfo | null, time: bigint) => {
      if (!container && !includeHost) return;
      const peer = peers.resolve(formatAddress(e.peer_addr, e.family), e.peer_port, 'udp', { localContainerId: container?.id });
      const local: Side = { container, address: formatAddress(e.local_addr, e.family), port: e.local_port, pid: 0, comm: '' };
      const remote: Side = { container: null, address: formatAddress(e.peer_addr, e.family), port: e.peer_port, pid: 0, comm: '' };
      const record = containerRecord(container?.attributes, connectionAttributes(e, peer, null), {
        eventName: NET_CONNECT_EVENT,
        timeUnixNano: time,
        severity: 'INFO',
        body: `udp ${sideText(local)} --> ${sideText(remote, peer?.container.name)}`,
      });
      ctx.emit(record);
      count(container, 'transmit', peer, 'sent');
      const server = peer
        ? { container: { id: peer.container.id, name: peer.container.name ?? peer.container.id, image: peer.container.image ?? '', labels: peer.container.labels ?? {} }, address: remote.address }
        : partyOf(null, remote.address);
      checkPolicy(record, { transport: 'udp', client: partyOf(container, local.address), server, serverPort: e.peer_port }, container, e);
    };

    const dispatch = (e: NetworkEvent, container: ContainerInfo | null, time: bigint) => {
      if (e.kind === KIND_UDP) onUdp(e, container, time);
      else if (e.kind === KIND_CONNECT || e.kind === KIND_ACCEPT) onEstablished(e, container, time);
      else if (e.kind === KIND_FAILED) onFailed(e, container, time);
      else if (e.kind === KIND_CLOSE) onClose(e, container, time);
    };

    // The record is ring memory: decoded here, synchronously.
    const handle = (bytes: Uint8Array) => {
      const e = decodeNetworkEvent(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      // The addresses are views of ring memory: copied, since a record may wait for its other side.
      e.local_addr = e.local_addr.slice();
      e.peer_addr = e.peer_addr.slice();
      const time = ctx.toUnixNano(e.timestamp_ns);
      const known = containerOf(e);
      if (known !== undefined) {
        dispatch(e, known, time);
        return;
      }
      const ref = { cgroupId: e.owner.cgroup_id, name: e.cgroup.name, parentName: e.cgroup.parent_name };
      void ctx.track(
        ctx.containers
          .attribute(ref)
          .then((c) => dispatch(e, c, time))
          .catch((err: unknown) => ctx.logger.error(`network: ${(err as Error).message}`)),
      );
    };

    return {
      rings: [{ map: 'cg_net_events', handle }],
      lossMaps: ['cg_net_lost'],
      cgroupPrograms: [
        { program: 'cg_net_skb_egress', scope: 'container' },
        { program: 'cg_net_skb_ingress', scope: 'container' },
      ],
      onRuntimeEvent(type, action, id, attributes) {
        // Network connect/disconnect, container start/die: addresses and published ports change.
        if (docker) {
          const work = handlePeerDockerEvent(peers, docker, type, action, id, attributes);
          if (work) void ctx.track(work);
        }
      },
      cacheSizes: () => ({ peers: peers.size }),
      onContainerTracked(entry) {
        void ctx.track(entry.attributed.then(() => (entry.container ? learn(entry.container.id) : undefined)));
      },
      onContainerRemoved(entry) {
        // Late connections of a removed container still resolve for a while.
        if (entry.container) peers.removeAfter(entry.container.id, ctx.config.registry.forget_after_ms);
        if (!io.isClosed) io.u64.fill(0n, entry.slot * 2, entry.slot * 2 + 2); // the next container starts from nothing
      },
      release() {
        io.close();
      },
      stop() {
        // Connections still waiting for their other side are written alone.
        for (const [key, p] of pending) {
          clearTimeout(p.timer);
          pending.delete(key);
          emitConnect(p, null);
        }
      },
    };
  },
};
