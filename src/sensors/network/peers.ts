// SPDX-License-Identifier: Apache-2.0
/**
 * Peer directory: names the other end of a connection when it is a container on this host.
 *
 * Fed from `docker inspect` (per container: id, name, image, labels, its addresses per network,
 * its network mode, the inode of its network namespace and its published ports), it answers
 * `resolve(address, port, transport, { netnsInode, localContainerId })` with one map lookup:
 *
 * - an address a container owns (IPv4, global IPv6, link-local IPv6)     -> that container (`address`)
 * - a loopback (127/8, ::1) or unspecified (0.0.0.0, ::) address seen in a container's network
 *   namespace -> the container whose namespace it is: the local container itself (`loopback`), or,
 *   for a `--network container:<owner>` container, the namespace owner (`shared_namespace`)
 * - a host address (the host's interfaces, the Docker gateways, or loopback/unspecified in the
 *   host's own namespace) with a port some container publishes (`NetworkSettings.Ports`, HostIp
 *   empty/0.0.0.0/:: or that address) -> that container (`published_port`): Docker's proxy or
 *   DNAT carries the connection there
 * - anything else -> null. A host-network container owns no address of its own and publishes
 *   nothing (Docker ignores `-p` with `--network host`): a connection to its listener is a
 *   connection to a host address and port, which only the kernel's listener table can name, so
 *   it resolves to null here (the network sensor names it from its own listener table).
 *
 * IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is looked up as the IPv4 address; IPv6 is written in its
 * RFC 5952 form, zone ids (`%eth0`) dropped.
 *
 * Bounded: at most `maxContainers` (default 8192) containers; past that the oldest upsert goes
 * first (a re-upsert counts as new). A container's addresses, namespace and ports are indexed at
 * upsert and unindexed at removal; when two containers claim the same key (a stale entry whose
 * address was handed to a new container) the latest upsert wins until it is removed.
 *
 * Keeping it current from Docker's event stream (`handlePeerDockerEvent`): re-inspect on
 * container `start` and `rename` and on network `connect` and `disconnect` (the container id is
 * in `Actor.Attributes.container`; `Actor.ID` is the network's); remove on container `die` and
 * `destroy`; re-read the host's addresses on network `create` and `destroy` (a new bridge).
 */
import fs from 'node:fs';
import os from 'node:os';
import { metadataFromInspect, type ContainerNetwork } from '../../containers/docker-metadata.js';

/** The peer container as records name it. */
export interface PeerContainer {
  id: string;
  name?: string;
  /** The image as the container was created from it (`nginx:1.25`), or the image id. */
  image?: string;
  labels: Record<string, string>;
}

export type PeerVia = 'address' | 'loopback' | 'published_port' | 'shared_namespace';

export interface PeerMatch {
  container: PeerContainer;
  via: PeerVia;
}

/**
 * How the container is attached: Docker's default bridge (`default`/`bridge`), a user network,
 * the host's namespace, its own namespace without interfaces (`none`), or the namespace of
 * another container (`container:<id>`).
 */
export type PeerNetworkMode =
  | { kind: 'bridge' }
  | { kind: 'network'; network: string }
  | { kind: 'host' }
  | { kind: 'none' }
  | { kind: 'container'; ownerId: string };

/** One network the container is attached to, and its addresses there (normalised). */
export interface PeerEndpoint {
  network: string;
  ipv4?: string;
  ipv6?: string;
  linkLocalIpv6: string[];
  /** Further addresses (`SecondaryIPAddresses`, `SecondaryIPv6Addresses` of older daemons). */
  secondary?: string[];
  /** The network's gateways: the host's end of a bridge network. */
  gateway?: string;
  ipv6Gateway?: string;
}

/** `"80/tcp": [{ HostIp: "0.0.0.0", HostPort: "18080" }]` -> { containerPort 80, transport tcp, hostIp '', hostPort 18080 }. */
export interface PublishedPort {
  containerPort: number;
  transport: string;
  /** Normalised; '' when the port is published on every host address (HostIp empty, 0.0.0.0 or ::). */
  hostIp: string;
  hostPort: number;
}

export interface PeerEntry {
  container: PeerContainer;
  networkMode: PeerNetworkMode;
  networks: PeerEndpoint[];
  /** `/var/run/docker/netns/<x>`; absent for `container:` mode. */
  sandboxKey?: string;
  /** Inode of the network namespace (what the kernel reports for a socket), when SandboxKey was readable. */
  netnsInode?: number;
  ports: PublishedPort[];
  /** False for a container that is not running (an upsert of it removes it). */
  running: boolean;
}

// ---------------------------------------------------------------------------------------------
// Addresses

const MAPPED_PREFIX_ZERO_GROUPS = 5;

function formatIPv6(groups: ArrayLike<number>): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i >= 2 && j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex: string[] = [];
  for (let i = 0; i < 8; i++) hex.push(groups[i]!.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function isMapped(groups: ArrayLike<number>): boolean {
  for (let i = 0; i < MAPPED_PREFIX_ZERO_GROUPS; i++) if (groups[i] !== 0) return false;
  return groups[5] === 0xffff;
}

function parseIPv4(s: string): number[] | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

function parseIPv6(s: string): number[] | null {
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const side = (text: string, allowV4: boolean): number[] | null => {
    if (text === '') return [];
    const parts = text.split(':');
    const out: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (allowV4 && i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p);
        if (!v4) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  if (halves.length === 1) {
    const all = side(halves[0]!, true);
    return all && all.length === 8 ? all : null;
  }
  const head = side(halves[0]!, false);
  const tail = side(halves[1]!, true);
  if (!head || !tail || head.length + tail.length > 7) return null;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/**
 * The lookup form of an address: IPv4 dotted; IPv6 as RFC 5952 (lower case, longest zero run as
 * `::`), IPv4-mapped IPv6 as its IPv4 address, brackets and zone id (`%eth0`) dropped. Bytes
 * (4 or 16, network order) are accepted too. Null when it is no address.
 */
export function normalizeAddress(address: string | Uint8Array | readonly number[]): string | null {
  if (typeof address !== 'string') {
    if (address.length === 4) return `${address[0]}.${address[1]}.${address[2]}.${address[3]}`;
    if (address.length !== 16) return null;
    const groups = new Array<number>(8);
    for (let i = 0; i < 8; i++) groups[i] = ((address[2 * i]! & 0xff) << 8) | (address[2 * i + 1]! & 0xff);
    if (isMapped(groups)) return `${address[12]}.${address[13]}.${address[14]}.${address[15]}`;
    return formatIPv6(groups);
  }
  let s = address.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (s === '') return null;
  if (!s.includes(':')) {
    const v4 = parseIPv4(s);
    return v4 ? v4.join('.') : null;
  }
  const groups = parseIPv6(s);
  if (!groups) return null;
  if (isMapped(groups)) return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  return formatIPv6(groups);
}

/** Loopback (127.0.0.0/8, ::1) or unspecified (0.0.0.0, ::): local to the socket's own namespace. Normalised input. */
function isLocalToNamespace(addr: string): boolean {
  return addr.startsWith('127.') || addr === '::1' || addr === '0.0.0.0' || addr === '::';
}

/** The link-local IPv6 address the kernel derives from a MAC address (EUI-64, addr_gen_mode 0). */
export function linkLocalFromMac(mac: string): string | null {
  const b = mac.split(':');
  if (b.length !== 6 || !b.every((x) => /^[0-9a-fA-F]{2}$/.test(x))) return null;
  const n = b.map((x) => parseInt(x, 16));
  const groups = [0xfe80, 0, 0, 0, ((n[0]! ^ 0x02) << 8) | n[1]!, (n[2]! << 8) | 0xff, (0xfe << 8) | n[3]!, (n[4]! << 8) | n[5]!];
  return formatIPv6(groups);
}

// ---------------------------------------------------------------------------------------------
// Network namespaces

/** statfs f_type of nsfs: a SandboxKey that is not a namespace bind mount (stale file) is no answer. */
const NSFS_MAGIC = 0x6e736673;

/** Inode of the network namespace bound at `path` (a Docker SandboxKey, `/proc/<pid>/ns/net`), or undefined. */
export function netnsInodeOf(path: string): number | undefined {
  if (!path) return undefined;
  try {
    if (fs.statfsSync(path).type !== NSFS_MAGIC) return undefined;
    const ino = fs.statSync(path).ino;
    return ino > 0 ? ino : undefined;
  } catch {
    return undefined;
  }
}

/** The host's network namespace: Docker's own name for it, else init's, else the agent's. */
function defaultHostNetns(): number[] {
  for (const p of ['/var/run/docker/netns/default', '/proc/1/ns/net', '/proc/self/ns/net']) {
    const ino = netnsInodeOf(p);
    if (ino !== undefined) return [ino];
  }
  return [];
}

/** Every address of the host's interfaces (os.networkInterfaces), normalised. */
export function hostInterfaceAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const i of list ?? []) {
      const a = normalizeAddress(i.address);
      if (a) out.push(a);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// From docker inspect

export interface PeerEntryOptions {
  /** Netns inode of a SandboxKey. Default: stat it (nsfs only). */
  netnsInode?: (sandboxKey: string) => number | undefined;
  /**
   * Add the link-local IPv6 address the kernel derives from the MAC (EUI-64) for endpoints with
   * a global IPv6 address (Docker does not report it; it enables IPv6 only on IPv6 networks).
   * Default true.
   */
  deriveLinkLocal?: boolean;
}

function parseNetworkMode(mode: string | undefined): PeerNetworkMode {
  const m = mode ?? '';
  if (m === '' || m === 'default' || m === 'bridge') return { kind: 'bridge' };
  if (m === 'host') return { kind: 'host' };
  if (m === 'none') return { kind: 'none' };
  if (m.startsWith('container:')) return { kind: 'container', ownerId: m.slice('container:'.length) };
  return { kind: 'network', network: m };
}

function addOnce(list: string[], value: string | null | undefined): void {
  if (value && !list.includes(value)) list.push(value);
}

/** Builds a directory entry from a dockerode / Engine API `docker inspect` result. */
export function peerEntryFromInspect(info: ContainerNetwork, opts: PeerEntryOptions = {}): PeerEntry {
  const meta = metadataFromInspect(info);
  const configured = info.Config?.Image;
  const container: PeerContainer = { id: info.Id, labels: meta.labels };
  if (meta.name) container.name = meta.name;
  const image = configured || info.Image;
  if (image) container.image = image;

  const networkMode = parseNetworkMode(info.HostConfig?.NetworkMode);
  const ns = info.NetworkSettings ?? {};
  const deriveLinkLocal = opts.deriveLinkLocal ?? true;
  const networks: PeerEndpoint[] = [];
  for (const [name, e] of Object.entries(ns.Networks ?? {})) {
    if (!e) continue;
    const ep: PeerEndpoint = { network: name, linkLocalIpv6: [] };
    const v4 = e.IPAddress ? normalizeAddress(e.IPAddress) : null;
    const v6 = e.GlobalIPv6Address ? normalizeAddress(e.GlobalIPv6Address) : null;
    if (v4) ep.ipv4 = v4;
    if (v6) ep.ipv6 = v6;
    for (const ll of e.IPAMConfig?.LinkLocalIPs ?? []) addOnce(ep.linkLocalIpv6, normalizeAddress(ll));
    if (v6 && deriveLinkLocal && e.MacAddress) addOnce(ep.linkLocalIpv6, linkLocalFromMac(e.MacAddress));
    const gw = e.Gateway ? normalizeAddress(e.Gateway) : null;
    const gw6 = e.IPv6Gateway ? normalizeAddress(e.IPv6Gateway) : null;
    if (gw) ep.gateway = gw;
    if (gw6) ep.ipv6Gateway = gw6;
    networks.push(ep);
  }
  // The deprecated top-level fields (the default bridge's endpoint on older daemons), secondary
  // addresses and the reported link-local address: kept (network '') when no endpoint has them.
  const extra: PeerEndpoint = { network: '', linkLocalIpv6: [] };
  const known = new Set(networks.flatMap((n) => [n.ipv4, n.ipv6, ...n.linkLocalIpv6]));
  const top4 = ns.IPAddress ? normalizeAddress(ns.IPAddress) : null;
  const top6 = ns.GlobalIPv6Address ? normalizeAddress(ns.GlobalIPv6Address) : null;
  if (top4 && !known.has(top4)) extra.ipv4 = top4;
  if (top6 && !known.has(top6)) extra.ipv6 = top6;
  const topLl = ns.LinkLocalIPv6Address ? normalizeAddress(ns.LinkLocalIPv6Address) : null;
  if (topLl && !known.has(topLl)) extra.linkLocalIpv6.push(topLl);
  const secondary: string[] = [];
  for (const s of [...(ns.SecondaryIPAddresses ?? []), ...(ns.SecondaryIPv6Addresses ?? [])]) {
    const a = s?.Addr ? normalizeAddress(s.Addr.split('/')[0]!) : null;
    if (a && !known.has(a)) addOnce(secondary, a);
  }
  if (secondary.length) extra.secondary = secondary;
  if (extra.ipv4 || extra.ipv6 || extra.linkLocalIpv6.length || secondary.length) networks.push(extra);

  const ports: PublishedPort[] = [];
  for (const [key, bindings] of Object.entries(ns.Ports ?? {})) {
    const m = /^([0-9]+)\/([a-z]+)$/i.exec(key);
    if (!m || !bindings) continue;
    for (const b of bindings) {
      const hostPort = Number(b?.HostPort);
      if (!Number.isInteger(hostPort) || hostPort <= 0 || hostPort > 65535) continue;
      const raw = b.HostIp ?? '';
      const hostIp = raw === '' || raw === '0.0.0.0' || raw === '::' ? '' : normalizeAddress(raw);
      if (hostIp === null) continue;
      const port: PublishedPort = { containerPort: Number(m[1]), transport: m[2]!.toLowerCase(), hostIp, hostPort };
      if (!ports.some((p) => p.hostIp === port.hostIp && p.hostPort === port.hostPort && p.transport === port.transport)) ports.push(port);
    }
  }

  const entry: PeerEntry = { container, networkMode, networks, ports, running: info.State?.Running !== false };
  const sandboxKey = ns.SandboxKey || undefined;
  if (sandboxKey) {
    entry.sandboxKey = sandboxKey;
    const ino = (opts.netnsInode ?? netnsInodeOf)(sandboxKey);
    if (ino !== undefined && ino > 0) entry.netnsInode = ino;
  }
  return entry;
}

// ---------------------------------------------------------------------------------------------
// The directory

export interface PeerDirectoryOptions {
  /** Most containers held; the oldest upsert goes first. Default 8192. */
  maxContainers?: number;
  /** The host's own addresses (any form). Default: every address of os.networkInterfaces(). */
  hostAddresses?: () => Iterable<string>;
  /** Inodes of the host's network namespace. Default: stat of Docker's `netns/default`, else `/proc/1/ns/net`, else `/proc/self/ns/net`. */
  hostNetnsInodes?: readonly number[];
  /** Used when an inspect result is upserted. */
  entryOptions?: PeerEntryOptions;
}

const DEFAULT_MAX_CONTAINERS = 8192;
/** `container:` of a `container:` (Docker refuses it; bounded anyway). */
const MAX_OWNER_HOPS = 4;

interface Binding {
  id: string;
  hostIp: string;
}

interface Indexed {
  entry: PeerEntry;
  addresses: string[];
  gateways: string[];
  portKeys: string[];
}

/** What a Docker event means for the directory (see handlePeerDockerEvent). */
export type PeerEventAction = { op: 'reinspect'; containerId: string } | { op: 'remove'; containerId: string } | { op: 'host_addresses' };

/** Container event actions after which a container is inspected again (new addresses, ports, namespace, name). */
export const PEER_REINSPECT_CONTAINER_ACTIONS: readonly string[] = ['start', 'rename'];
/** Container event actions after which it is removed (its namespace is gone). */
export const PEER_REMOVE_CONTAINER_ACTIONS: readonly string[] = ['die', 'destroy'];
/** Network event actions (container id in Actor.Attributes.container) after which that container is inspected again. */
export const PEER_REINSPECT_NETWORK_ACTIONS: readonly string[] = ['connect', 'disconnect'];
/** Network event actions after which the host's addresses are read again (a bridge came or went). */
export const PEER_HOST_NETWORK_ACTIONS: readonly string[] = ['create', 'destroy'];

/**
 * What a Docker event means for the directory, or null. `type` is the event's `Type`
 * (`container`, `network`); without it, connect/disconnect with a `container` attribute are
 * taken as network events and anything else as a container event.
 */
export function peerEventAction(
  type: string | undefined,
  action: string,
  actorId: string,
  attributes: Record<string, string> = {},
): PeerEventAction | null {
  const isNetwork = type === 'network' || (type === undefined && PEER_REINSPECT_NETWORK_ACTIONS.includes(action) && !!attributes.container);
  if (isNetwork) {
    if (PEER_REINSPECT_NETWORK_ACTIONS.includes(action) && attributes.container) return { op: 'reinspect', containerId: attributes.container };
    if (PEER_HOST_NETWORK_ACTIONS.includes(action)) return { op: 'host_addresses' };
    return null;
  }
  if (type !== undefined && type !== 'container') return null;
  if (!actorId) return null;
  if (PEER_REINSPECT_CONTAINER_ACTIONS.includes(action)) return { op: 'reinspect', containerId: actorId };
  if (PEER_REMOVE_CONTAINER_ACTIONS.includes(action)) return { op: 'remove', containerId: actorId };
  return null;
}

/** Where the directory reads containers from (DockerMetadataSource has both). */
export interface PeerNetworkSource {
  inspectNetwork(containerId: string): Promise<ContainerNetwork | null>;
  listRunning(): Promise<string[]>;
}

export type PeerRefreshResult = 'upserted' | 'removed' | 'superseded' | 'failed';

/**
 * Applies one Docker event (see PEER_*_ACTIONS) to the directory: a re-inspect, a removal or a
 * re-read of the host's addresses. Returns the re-inspect's promise (never rejects), else null.
 */
export function handlePeerDockerEvent(
  directory: PeerDirectory,
  source: PeerNetworkSource,
  type: string | undefined,
  action: string,
  actorId: string,
  attributes: Record<string, string> = {},
): Promise<PeerRefreshResult> | null {
  const a = peerEventAction(type, action, actorId, attributes);
  if (!a) return null;
  if (a.op === 'host_addresses') {
    directory.refreshHostAddresses();
    return null;
  }
  if (a.op === 'remove') {
    directory.remove(a.containerId);
    return null;
  }
  return directory.refresh(source, a.containerId);
}

export class PeerDirectory {
  private readonly maxContainers: number;
  private readonly hostAddressSource: () => Iterable<string>;
  private readonly entryOptions: PeerEntryOptions;
  /** Insertion order = age: the first key is the oldest upsert. */
  private readonly entries = new Map<string, Indexed>();
  /** Normalised address -> ids claiming it (the last one wins). */
  private readonly byAddress = new Map<string, string[]>();
  /** Netns inode -> ids of the containers whose own namespace it is (not `container:`, not host). */
  private readonly byNetns = new Map<number, string[]>();
  /** `port/transport` -> the bindings publishing it. */
  private readonly byPort = new Map<string, Binding[]>();
  /** Docker gateway address -> how many entries name it. */
  private readonly gateways = new Map<string, number>();
  private hostAddresses = new Set<string>();
  private readonly hostNetns: Set<number>;
  /** Container id -> token of the refresh in flight whose answer still counts. */
  private readonly refreshing = new Map<string, number>();
  private refreshSeq = 0;
  /** Container id -> its removal scheduled by removeAfter (an upsert cancels it). */
  private readonly removals = new Map<string, NodeJS.Timeout>();

  constructor(opts: PeerDirectoryOptions = {}) {
    this.maxContainers = Math.max(1, Math.floor(opts.maxContainers ?? DEFAULT_MAX_CONTAINERS));
    this.hostAddressSource = opts.hostAddresses ?? hostInterfaceAddresses;
    this.entryOptions = opts.entryOptions ?? {};
    this.hostNetns = new Set(opts.hostNetnsInodes ?? defaultHostNetns());
    this.refreshHostAddresses();
  }

  get size(): number {
    return this.entries.size;
  }

  get(containerId: string): PeerEntry | undefined {
    return this.entries.get(containerId)?.entry;
  }

  /** Re-reads the host's own addresses (call when interfaces change: network create/destroy). */
  refreshHostAddresses(): void {
    const next = new Set<string>();
    for (const a of this.hostAddressSource()) {
      const n = normalizeAddress(a);
      if (n) next.add(n);
    }
    this.hostAddresses = next;
  }

  /**
   * Adds or replaces a container: a PeerEntry, or a `docker inspect` result (as
   * DockerMetadataSource.inspectNetwork returns it). A container that is not running is removed.
   */
  upsert(metadata: PeerEntry | ContainerNetwork): void {
    const entry = 'Id' in metadata ? peerEntryFromInspect(metadata, this.entryOptions) : metadata;
    const id = entry.container.id;
    if (!id) return;
    if (!entry.running) {
      this.remove(id);
      return;
    }
    const pendingRemoval = this.removals.get(id);
    if (pendingRemoval) {
      clearTimeout(pendingRemoval);
      this.removals.delete(id);
    }
    this.unindex(id);
    while (this.entries.size >= this.maxContainers) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.remove(oldest.value);
    }
    const indexed: Indexed = { entry, addresses: [], gateways: [], portKeys: [] };
    for (const n of entry.networks) {
      for (const a of [n.ipv4, n.ipv6, ...n.linkLocalIpv6, ...(n.secondary ?? [])]) if (a) addOnce(indexed.addresses, a);
      for (const g of [n.gateway, n.ipv6Gateway]) if (g) addOnce(indexed.gateways, g);
    }
    for (const a of indexed.addresses) push(this.byAddress, a, id);
    for (const g of indexed.gateways) this.gateways.set(g, (this.gateways.get(g) ?? 0) + 1);
    for (const p of entry.ports) {
      const key = `${p.hostPort}/${p.transport}`;
      addOnce(indexed.portKeys, key);
      const list = this.byPort.get(key);
      if (list) list.push({ id, hostIp: p.hostIp });
      else this.byPort.set(key, [{ id, hostIp: p.hostIp }]);
    }
    if (entry.netnsInode !== undefined) {
      // A host-network container's namespace is the host's: learnt, never indexed as a container's.
      if (entry.networkMode.kind === 'host') this.hostNetns.add(entry.netnsInode);
      else if (entry.networkMode.kind !== 'container') push(this.byNetns, entry.netnsInode, id);
    }
    this.entries.set(id, indexed);
  }

  /** Forgets a container (and cancels the answer of a re-inspect of it still in flight). */
  remove(containerId: string): void {
    this.refreshing.delete(containerId);
    const t = this.removals.get(containerId);
    if (t) {
      clearTimeout(t);
      this.removals.delete(containerId);
    }
    this.unindex(containerId);
  }

  /** Removes a container after `ms` (late events still resolve meanwhile) unless it is upserted again before. */
  removeAfter(containerId: string, ms: number): void {
    if (!this.entries.has(containerId)) return;
    const old = this.removals.get(containerId);
    if (old) clearTimeout(old);
    const t = setTimeout(() => {
      if (this.removals.get(containerId) === t) this.remove(containerId);
    }, ms);
    t.unref();
    this.removals.set(containerId, t);
  }

  /**
   * Inspects one container again and upserts it (removes it when gone or stopped). When a later
   * refresh or a removal of the same container comes in meanwhile, this answer is dropped
   * (`superseded`). Never rejects: a daemon error leaves the entry as it was (`failed`).
   */
  async refresh(source: PeerNetworkSource, containerId: string): Promise<PeerRefreshResult> {
    const token = ++this.refreshSeq;
    if (!this.refreshing.has(containerId)) {
      while (this.refreshing.size >= this.maxContainers) {
        const oldest = this.refreshing.keys().next();
        if (oldest.done) break;
        this.refreshing.delete(oldest.value);
      }
    }
    this.refreshing.set(containerId, token);
    let info: ContainerNetwork | null;
    try {
      info = await source.inspectNetwork(containerId);
    } catch {
      if (this.refreshing.get(containerId) === token) this.refreshing.delete(containerId);
      return 'failed';
    }
    if (this.refreshing.get(containerId) !== token) return 'superseded';
    this.refreshing.delete(containerId);
    if (!info || info.State?.Running === false) {
      this.remove(containerId);
      return 'removed';
    }
    this.upsert(info);
    return 'upserted';
  }

  /** Inspects every running container (at most `concurrency` at a time); resolves to how many were upserted. */
  async seed(source: PeerNetworkSource, concurrency = 8): Promise<number> {
    const ids = await source.listRunning();
    let next = 0;
    let upserted = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        if ((await this.refresh(source, id)) === 'upserted') upserted++;
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, ids.length)) }, worker));
    return upserted;
  }

  /**
   * The container at the other end of a connection, or null. `address` in any form (IPv4,
   * IPv6, IPv4-mapped IPv6, or its 4/16 bytes); `transport` as Docker writes it (`tcp`, `udp`,
   * `sctp`); `context` says where the socket is: its network namespace inode (0 = unknown) and
   * the container that owns it.
   */
  resolve(
    address: string | Uint8Array | readonly number[],
    port: number,
    transport: string,
    context: { netnsInode?: number; localContainerId?: string } = {},
  ): PeerMatch | null {
    const addr = normalizeAddress(address);
    if (addr === null) return null;
    if (isLocalToNamespace(addr)) {
      const where = this.namespaceOf(context);
      if (where === 'host') return this.published(addr, port, transport);
      return where;
    }
    const owners = this.byAddress.get(addr);
    if (owners) {
      const e = this.entries.get(owners[owners.length - 1]!);
      if (e) return { container: e.entry.container, via: 'address' };
    }
    if (this.hostAddresses.has(addr) || this.gateways.has(addr)) return this.published(addr, port, transport);
    return null;
  }

  /** The container whose namespace the socket is in (for a loopback peer), 'host', or null. */
  private namespaceOf(context: { netnsInode?: number; localContainerId?: string }): PeerMatch | 'host' | null {
    const ns = context.netnsInode ? context.netnsInode : undefined;
    const local = context.localContainerId ? this.entries.get(context.localContainerId)?.entry : undefined;
    if (ns !== undefined) {
      if (this.hostNetns.has(ns)) return 'host';
      const ids = this.byNetns.get(ns);
      const owner = ids ? this.entries.get(ids[ids.length - 1]!)?.entry : undefined;
      if (owner) {
        const shared = local !== undefined && local.networkMode.kind === 'container' && this.ownerOf(local)?.container.id === owner.container.id;
        return { container: owner.container, via: shared ? 'shared_namespace' : 'loopback' };
      }
    }
    if (!local) {
      // No container and no namespace: a host process.
      return ns === undefined && !context.localContainerId ? 'host' : null;
    }
    const owner = local.networkMode.kind === 'container' ? this.ownerOf(local) : local;
    if (!owner) return null;
    if (owner.networkMode.kind === 'host') return 'host';
    // The kernel's namespace is not the one this container's namespace is known to be: some other.
    if (ns !== undefined && owner.netnsInode !== undefined && owner.netnsInode !== ns) return null;
    return { container: owner.container, via: owner === local ? 'loopback' : 'shared_namespace' };
  }

  /** The container whose namespace a `container:` container shares (following a chain, bounded). */
  private ownerOf(entry: PeerEntry): PeerEntry | undefined {
    let cur: PeerEntry | undefined = entry;
    for (let hop = 0; cur && cur.networkMode.kind === 'container' && hop < MAX_OWNER_HOPS; hop++) {
      cur = this.entries.get(cur.networkMode.ownerId)?.entry;
    }
    return cur && cur.networkMode.kind !== 'container' ? cur : undefined;
  }

  /** A host address (normalised) and port: the container publishing that port there. */
  private published(addr: string, port: number, transport: string): PeerMatch | null {
    const bindings = this.byPort.get(`${port}/${transport.toLowerCase()}`);
    if (!bindings) return null;
    // Connecting to the unspecified address reaches the host's loopback.
    const target = addr === '0.0.0.0' ? '127.0.0.1' : addr === '::' ? '::1' : addr;
    let wildcard: Binding | undefined;
    for (let i = bindings.length - 1; i >= 0; i--) {
      const b = bindings[i]!;
      if (b.hostIp === target) return this.match(b.id, 'published_port');
      if (b.hostIp === '' && !wildcard) wildcard = b;
    }
    return wildcard ? this.match(wildcard.id, 'published_port') : null;
  }

  private match(id: string, via: PeerVia): PeerMatch | null {
    const e = this.entries.get(id);
    return e ? { container: e.entry.container, via } : null;
  }

  private unindex(id: string): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    for (const a of e.addresses) pull(this.byAddress, a, id);
    for (const g of e.gateways) {
      const n = (this.gateways.get(g) ?? 0) - 1;
      if (n > 0) this.gateways.set(g, n);
      else this.gateways.delete(g);
    }
    for (const key of e.portKeys) {
      const list = this.byPort.get(key);
      if (!list) continue;
      const rest = list.filter((b) => b.id !== id);
      if (rest.length) this.byPort.set(key, rest);
      else this.byPort.delete(key);
    }
    if (e.entry.netnsInode !== undefined) pull(this.byNetns, e.entry.netnsInode, id);
  }
}

function push<K>(map: Map<K, string[]>, key: K, id: string): void {
  const list = map.get(key);
  if (!list) map.set(key, [id]);
  else if (!list.includes(id)) list.push(id);
}

function pull<K>(map: Map<K, string[]>, key: K, id: string): void {
  const list = map.get(key);
  if (!list) return;
  const i = list.indexOf(id);
  if (i >= 0) list.splice(i, 1);
  if (!list.length) map.delete(key);
}
