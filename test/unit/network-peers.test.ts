// SPDX-License-Identifier: Apache-2.0
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ContainerNetwork } from '../../src/containers/docker-metadata.js';
import {
  PeerDirectory,
  handlePeerDockerEvent,
  linkLocalFromMac,
  netnsInodeOf,
  normalizeAddress,
  peerEntryFromInspect,
  peerEventAction,
  type PeerNetworkSource,
} from '../../src/sensors/network/peers.js';

/*
 * `docker inspect` output captured on a Debian 12 host (Docker 20.10.24, API 1.41), reduced to
 * the fields a ContainerNetwork keeps (NetworkSettings verbatim):
 *
 *   docker network create pg-usernet
 *   docker network create --ipv6 --subnet fd00:cafe::/64 pg-v6net
 *   docker run -d --name pg-bridge -l app=web -p 18080:80 -p 127.0.0.1:18081:81/udp busybox sleep 600
 *   docker run -d --name pg-user   --network pg-usernet busybox sleep 600
 *   docker run -d --name pg-v6     --network pg-v6net -p 18082:82 busybox sleep 600
 *   docker run -d --name pg-shared --network container:pg-bridge busybox sleep 600
 *   docker run -d --name pg-host   --network host busybox sleep 600
 *   docker run -d --name pg-none   --network none busybox sleep 600
 *   docker run -d --name pg-multi  --network pg-usernet busybox sleep 600; docker network connect pg-v6net pg-multi
 *
 * Network namespace inodes on that host (stat of the SandboxKey = readlink /proc/<pid>/ns/net),
 * and its interface addresses (os.networkInterfaces(), veths left out).
 */
const NETNS: Record<string, number> = {
  '/var/run/docker/netns/240eec2cb276': 4026532261, // pg-bridge, and pg-shared through it
  '/var/run/docker/netns/bd07a6d4ade5': 4026532336, // pg-user
  '/var/run/docker/netns/ea0777263961': 4026532411, // pg-v6
  '/var/run/docker/netns/default': 4026531833, // pg-host: the host's namespace
  '/var/run/docker/netns/a50c1a50907e': 4026532492, // pg-none
  '/var/run/docker/netns/f9628fd1ea6d': 4026532567, // pg-multi
};
const HOST_NETNS = 4026531833;
const NS_BRIDGE = 4026532261;
const NS_USER = 4026532336;
const NS_V6 = 4026532411;
const NS_NONE = 4026532492;
const HOST_ADDRESSES = [
  '127.0.0.1', '::1', // lo
  '192.0.2.2', 'fd00::2', 'fe80::fc:ff:fe00:1', // eth0
  '172.17.0.1', 'fe80::42:60ff:fe33:d12c', // docker0
  '172.18.0.1', 'fe80::42:87ff:feee:1599', // br- of pg-usernet
  '172.19.0.1', 'fd00:cafe::1', 'fe80::42:a4ff:fe23:fa3c', 'fe80::1', // br- of pg-v6net
];

const BRIDGE = {
  "Id": "3eb7c66b643303b3c185d4323960cb24a60882a4282bc6a71997a38b5a17e8a6",
  "Name": "/pg-bridge",
  "Image": "sha256:b36affb5c895ad1994d9edba892ce2ac49c33ac4b445f699d2c570188dbcdcc7",
  "Config": {"Image": "contguard-test/busybox:latest", "Labels": {"app": "web"}},
  "State": {"Running": true, "Pid": 23469},
  "HostConfig": {"NetworkMode": "default"},
  "NetworkSettings": {
    "Bridge": "",
    "SandboxID": "240eec2cb2762a81fd1406576ad36ab1c418f76d2dfff3382d95d30b57148ba5",
    "HairpinMode": false,
    "LinkLocalIPv6Address": "",
    "LinkLocalIPv6PrefixLen": 0,
    "Ports": {
      "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18080"}, {"HostIp": "::", "HostPort": "18080"}],
      "81/udp": [{"HostIp": "127.0.0.1", "HostPort": "18081"}]
    },
    "SandboxKey": "/var/run/docker/netns/240eec2cb276",
    "SecondaryIPAddresses": null,
    "SecondaryIPv6Addresses": null,
    "EndpointID": "65d3501c0f6a7cf92b4f0831bf1da235c096409674b3e9c96ae9ba25f669f445",
    "Gateway": "172.17.0.1",
    "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0,
    "IPAddress": "172.17.0.3",
    "IPPrefixLen": 16,
    "IPv6Gateway": "",
    "MacAddress": "02:42:ac:11:00:03",
    "Networks": {
      "bridge": {
        "IPAMConfig": null,
        "Links": null,
        "Aliases": null,
        "NetworkID": "43208636620f4d161359e1e9b699daf24c4013e246a283acc87650de7dac8f89",
        "EndpointID": "65d3501c0f6a7cf92b4f0831bf1da235c096409674b3e9c96ae9ba25f669f445",
        "Gateway": "172.17.0.1",
        "IPAddress": "172.17.0.3",
        "IPPrefixLen": 16,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": "02:42:ac:11:00:03",
        "DriverOpts": null
      }
    }
  }
} as ContainerNetwork;

const USER = {
  "Id": "e88805265024509e1b72eb186509f27c141dea33bcd6b762a47fddb4e7f2aeb1",
  "Name": "/pg-user",
  "Image": "sha256:b36affb5c895ad1994d9edba892ce2ac49c33ac4b445f699d2c570188dbcdcc7",
  "Config": {"Image": "contguard-test/busybox:latest", "Labels": {}},
  "State": {"Running": true, "Pid": 23926},
  "HostConfig": {"NetworkMode": "pg-usernet"},
  "NetworkSettings": {
    "Bridge": "",
    "SandboxID": "bd07a6d4ade55bb4d228bf826aacc1a2a9fcaec14e9312804bb42a14a4174dce",
    "HairpinMode": false,
    "LinkLocalIPv6Address": "",
    "LinkLocalIPv6PrefixLen": 0,
    "Ports": {},
    "SandboxKey": "/var/run/docker/netns/bd07a6d4ade5",
    "SecondaryIPAddresses": null,
    "SecondaryIPv6Addresses": null,
    "EndpointID": "",
    "Gateway": "",
    "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0,
    "IPAddress": "",
    "IPPrefixLen": 0,
    "IPv6Gateway": "",
    "MacAddress": "",
    "Networks": {
      "pg-usernet": {
        "IPAMConfig": null,
        "Links": null,
        "Aliases": ["e88805265024"],
        "NetworkID": "299fd01692545e8c45fdff1b0fc25ab8a31e1d8dff6d7b4c2f4459eed0eb6bed",
        "EndpointID": "159ae4370cf0e148ca51d4f4891c99d61654f736748e0df91c438c6360c7e476",
        "Gateway": "172.18.0.1",
        "IPAddress": "172.18.0.2",
        "IPPrefixLen": 16,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": "02:42:ac:12:00:02",
        "DriverOpts": null
      }
    }
  }
} as ContainerNetwork;

const V6 = {
  "Id": "138520e349a5ec00617acafefa8f27313d59c81ffb45efbed3bc8c31c1a050d5",
  "Name": "/pg-v6",
  "Image": "sha256:b36affb5c895ad1994d9edba892ce2ac49c33ac4b445f699d2c570188dbcdcc7",
  "Config": {"Image": "contguard-test/busybox:latest", "Labels": {}},
  "State": {"Running": true, "Pid": 24289},
  "HostConfig": {"NetworkMode": "pg-v6net"},
  "NetworkSettings": {
    "Bridge": "",
    "SandboxID": "ea0777263961eccf0bb8a75baeae49fb235664ace10053af889d37fbfb6446e0",
    "HairpinMode": false,
    "LinkLocalIPv6Address": "",
    "LinkLocalIPv6PrefixLen": 0,
    "Ports": {"82/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18082"}, {"HostIp": "::", "HostPort": "18082"}]},
    "SandboxKey": "/var/run/docker/netns/ea0777263961",
    "SecondaryIPAddresses": null,
    "SecondaryIPv6Addresses": null,
    "EndpointID": "",
    "Gateway": "",
    "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0,
    "IPAddress": "",
    "IPPrefixLen": 0,
    "IPv6Gateway": "",
    "MacAddress": "",
    "Networks": {
      "pg-v6net": {
        "IPAMConfig": null,
        "Links": null,
        "Aliases": ["138520e349a5"],
        "NetworkID": "75504624498fec2d4dae946be2195d3c054ed2eb38b24c4f338c442a0c7dbc61",
        "EndpointID": "4912698c6eba2d197c679950116fc80a1fff9723e07ab525ed06c82de5efe936",
        "Gateway": "172.19.0.1",
        "IPAddress": "172.19.0.2",
        "IPPrefixLen": 16,
        "IPv6Gateway": "fd00:cafe::1",
        "GlobalIPv6Address": "fd00:cafe::2",
        "GlobalIPv6PrefixLen": 64,
        "MacAddress": "02:42:ac:13:00:02",
        "DriverOpts": null
      }
    }
  }
} as ContainerNetwork;

const SHARED = {
  "Id": "bf75d3486b346b6eb0d3db3329a32c2187ee183f34b281a4b9e448d2d6dccd40",
  "Name": "/pg-shared",
  "Image": "sha256:b36affb5c895ad1994d9edba892ce2ac49c33ac4b445f699d2c570188dbcdcc7",
  "Config": {"Image": "contguard-test/busybox:latest", "Labels": {}},
  "State": {"Running": true, "Pid": 24384},
  "HostConfig": {"NetworkMode": "container:3eb7c66b643303b3c185d4323960cb24a60882a4282bc6a71997a38b5a17e8a6"},
  "NetworkSettings": {
    "Bridge": "",
    "SandboxID": "",
    "HairpinMode": false,
    "LinkLocalIPv6Address": "",
    "LinkLocalIPv6PrefixLen": 0,
    "Ports": {},
    "SandboxKey": "",
    "SecondaryIPAddresses": null,
    "SecondaryIPv6Addresses": null,
    "EndpointID": "",
    "Gateway": "",
    "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0,
    "IPAddress": "",
    "IPPrefixLen": 0,
    "IPv6Gateway": "",
    "MacAddress": "",
    "Networks": {}
  }
} as ContainerNetwork;

const HOST = {
  "Id": "9b20fe3658659334bb8b01dc23c82d00b1a3b703a1aeaa852a75cf1618fd796d",
  "Name": "/pg-host",
  "Image": "sha256:b36affb5c895ad1994d9edba892ce2ac49c33ac4b445f699d2c570188dbcdcc7",
  "Config": {"Image": "contguard-test/busybox:latest", "Labels": {}},
  "State": {"Running": true, "Pid": 24438},
  "HostConfig": {"NetworkMode": "host"},
  "NetworkSettings": {
    "Bridge": "",
    "SandboxID": "2fd8894b5b0f1c07e029a59c4a64d24b728f7e8b2a10700c6ead4e8b914523bf",
    "HairpinMode": false,
    "LinkLocalIPv6Address": "",
    "LinkLocalIPv6PrefixLen": 0,
    "Ports": {},
    "SandboxKey": "/var/run/docker/netns/default",
    "SecondaryIPAddresses": null,
    "SecondaryIPv6Addresses": null,
    "EndpointID": "",
    "Gateway": "",
    "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0,
    "IPAddress": "",
    "IPPrefixLen": 0,
    "IPv6Gateway": "",
    "MacAddress": "",
    "Networks": {
      "host": {
        "IPAMConfig": null,
        "Links": null,
        "Aliases": null,
        "NetworkID": "68c90d528451697d4c9faa0aadd821d2a5408184746bdbf9dffdb34ba1f003c5",
        "EndpointID": "dc427322d4f76dd35fd6d5ca6dd31a157c904539aaf8385c8efb37d1435c4f1d",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": "",
        "DriverOpts": null
      }
    }
  }
} as ContainerNetwork;

const NONE = {
  "Id": "87f56ed684b8028f2a052f6700f75b476f79f22a58da9e75f8b9de82d8d055f3",
  "Name": "/pg-none",
  "Image": "sha256:b36affb5c895ad1994d9edba892ce2ac49c33ac4b445f699d2c570188dbcdcc7",
  "Config": {"Image": "contguard-test/busybox:latest", "Labels": {}},
  "State": {"Running": true, "Pid": 24492},
  "HostConfig": {"NetworkMode": "none"},
  "NetworkSettings": {
    "Bridge": "",
    "SandboxID": "a50c1a50907e21db20453e17d66bd8443a9ffb21daacd93fa4f1e3af1ac40a9c",
    "HairpinMode": false,
    "LinkLocalIPv6Address": "",
    "LinkLocalIPv6PrefixLen": 0,
    "Ports": {},
    "SandboxKey": "/var/run/docker/netns/a50c1a50907e",
    "SecondaryIPAddresses": null,
    "SecondaryIPv6Addresses": null,
    "EndpointID": "",
    "Gateway": "",
    "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0,
    "IPAddress": "",
    "IPPrefixLen": 0,
    "IPv6Gateway": "",
    "MacAddress": "",
    "Networks": {
      "none": {
        "IPAMConfig": null,
        "Links": null,
        "Aliases": null,
        "NetworkID": "e5ce3943b5b7a2ceb226b01f61e40be56087f9b1b2b18b5d65c104d594d35825",
        "EndpointID": "ea7b93f28cbae8759e8b08fc206ed618359319689988ed917d79837cdd1aac0d",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": "",
        "DriverOpts": null
      }
    }
  }
} as ContainerNetwork;

const MULTI = {
  "Id": "b2abcc8e0efba891a860982244225b6664f530745d2ad12ec4431d0b38891271",
  "Name": "/pg-multi",
  "Image": "sha256:b36affb5c895ad1994d9edba892ce2ac49c33ac4b445f699d2c570188dbcdcc7",
  "Config": {"Image": "contguard-test/busybox:latest", "Labels": {}},
  "State": {"Running": true, "Pid": 24937},
  "HostConfig": {"NetworkMode": "pg-usernet"},
  "NetworkSettings": {
    "Bridge": "",
    "SandboxID": "f9628fd1ea6dd6909c140a4d043cd98956fd3c5c495484c6952a93e31a594db0",
    "HairpinMode": false,
    "LinkLocalIPv6Address": "",
    "LinkLocalIPv6PrefixLen": 0,
    "Ports": {},
    "SandboxKey": "/var/run/docker/netns/f9628fd1ea6d",
    "SecondaryIPAddresses": null,
    "SecondaryIPv6Addresses": null,
    "EndpointID": "",
    "Gateway": "",
    "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0,
    "IPAddress": "",
    "IPPrefixLen": 0,
    "IPv6Gateway": "",
    "MacAddress": "",
    "Networks": {
      "pg-usernet": {
        "IPAMConfig": null,
        "Links": null,
        "Aliases": ["b2abcc8e0efb"],
        "NetworkID": "299fd01692545e8c45fdff1b0fc25ab8a31e1d8dff6d7b4c2f4459eed0eb6bed",
        "EndpointID": "b1ec8a52bde2780157150c9bdb3ad7060165ad9dbadd6859e06bcd45384db1e1",
        "Gateway": "172.18.0.1",
        "IPAddress": "172.18.0.3",
        "IPPrefixLen": 16,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": "02:42:ac:12:00:03",
        "DriverOpts": null
      },
      "pg-v6net": {
        "IPAMConfig": {},
        "Links": null,
        "Aliases": ["b2abcc8e0efb"],
        "NetworkID": "75504624498fec2d4dae946be2195d3c054ed2eb38b24c4f338c442a0c7dbc61",
        "EndpointID": "0d41ff9d217a6c91486af1b0b0d9847e46821ede19bccec9f7c075f58a668398",
        "Gateway": "172.19.0.1",
        "IPAddress": "172.19.0.3",
        "IPPrefixLen": 16,
        "IPv6Gateway": "fd00:cafe::1",
        "GlobalIPv6Address": "fd00:cafe::3",
        "GlobalIPv6PrefixLen": 64,
        "MacAddress": "02:42:ac:13:00:03",
        "DriverOpts": {}
      }
    }
  }
} as ContainerNetwork;

const ALL = [BRIDGE, USER, V6, SHARED, HOST, NONE, MULTI];
const entryOptions = { netnsInode: (key: string) => NETNS[key] };
const directory = (opts: { maxContainers?: number; hostAddresses?: string[]; hostNetnsInodes?: number[] } = {}) =>
  new PeerDirectory({
    maxContainers: opts.maxContainers,
    hostAddresses: () => opts.hostAddresses ?? HOST_ADDRESSES,
    hostNetnsInodes: opts.hostNetnsInodes ?? [HOST_NETNS],
    entryOptions,
  });
const full = () => {
  const d = directory();
  for (const c of ALL) d.upsert(c);
  return d;
};
const who = (m: { container: { name?: string }; via: string } | null) => (m ? `${m.container.name} ${m.via}` : null);

describe('peerEntryFromInspect (real docker inspect output)', () => {
  it('default bridge: address, gateway, published ports (0.0.0.0 and :: fold into one wildcard), netns', () => {
    expect(peerEntryFromInspect(BRIDGE, entryOptions)).toStrictEqual({
      container: { id: BRIDGE.Id, name: 'pg-bridge', image: 'contguard-test/busybox:latest', labels: { app: 'web' } },
      networkMode: { kind: 'bridge' },
      networks: [{ network: 'bridge', ipv4: '172.17.0.3', linkLocalIpv6: [], gateway: '172.17.0.1' }],
      ports: [
        { containerPort: 80, transport: 'tcp', hostIp: '', hostPort: 18080 },
        { containerPort: 81, transport: 'udp', hostIp: '127.0.0.1', hostPort: 18081 },
      ],
      running: true,
      sandboxKey: '/var/run/docker/netns/240eec2cb276',
      netnsInode: NS_BRIDGE,
    });
  });

  it('user network: the network by name', () => {
    const e = peerEntryFromInspect(USER, entryOptions);
    expect(e.networkMode).toStrictEqual({ kind: 'network', network: 'pg-usernet' });
    expect(e.networks).toStrictEqual([{ network: 'pg-usernet', ipv4: '172.18.0.2', linkLocalIpv6: [], gateway: '172.18.0.1' }]);
    expect(e.ports).toEqual([]);
    expect(e.netnsInode).toBe(NS_USER);
  });

  it('IPv6 network: global address, and the link-local address the kernel gave eth0 (from the MAC)', () => {
    const e = peerEntryFromInspect(V6, entryOptions);
    // `docker exec pg-v6 ip addr`: eth0 inet6 fd00:cafe::2/64, fe80::42:acff:fe13:2/64 (Docker reports no link-local).
    expect(e.networks).toStrictEqual([
      { network: 'pg-v6net', ipv4: '172.19.0.2', ipv6: 'fd00:cafe::2', linkLocalIpv6: ['fe80::42:acff:fe13:2'], gateway: '172.19.0.1', ipv6Gateway: 'fd00:cafe::1' },
    ]);
    expect(peerEntryFromInspect(V6, { ...entryOptions, deriveLinkLocal: false }).networks[0]!.linkLocalIpv6).toEqual([]);
  });

  it('container: mode: no sandbox, no networks of its own; the owner by full id', () => {
    const e = peerEntryFromInspect(SHARED, entryOptions);
    expect(e.networkMode).toStrictEqual({ kind: 'container', ownerId: BRIDGE.Id });
    expect(e.networks).toEqual([]);
    expect(e.sandboxKey).toBeUndefined();
    expect(e.netnsInode).toBeUndefined();
  });

  it('host and none modes; two networks', () => {
    const h = peerEntryFromInspect(HOST, entryOptions);
    expect(h.networkMode).toStrictEqual({ kind: 'host' });
    expect(h.networks).toStrictEqual([{ network: 'host', linkLocalIpv6: [] }]);
    expect(h.netnsInode).toBe(HOST_NETNS);
    const n = peerEntryFromInspect(NONE, entryOptions);
    expect(n.networkMode).toStrictEqual({ kind: 'none' });
    expect(n.netnsInode).toBe(NS_NONE);
    const m = peerEntryFromInspect(MULTI, entryOptions);
    expect(m.networks.map((x) => [x.network, x.ipv4, x.ipv6, x.linkLocalIpv6])).toStrictEqual([
      ['pg-usernet', '172.18.0.3', undefined, []],
      ['pg-v6net', '172.19.0.3', 'fd00:cafe::3', ['fe80::42:acff:fe13:3']],
    ]);
  });

  it('a SandboxKey that cannot be read leaves the netns unknown', () => {
    expect(peerEntryFromInspect(BRIDGE, { netnsInode: () => undefined }).netnsInode).toBeUndefined();
  });

  it('a stopped container (as inspect reports it) is not running; exposed-but-unpublished ports are skipped', () => {
    const stopped = {
      ...BRIDGE,
      State: { Running: false, Pid: 0 },
      NetworkSettings: { ...BRIDGE.NetworkSettings, SandboxKey: '', IPAddress: '', Ports: { '80/tcp': null }, Networks: {} },
    } as ContainerNetwork;
    const e = peerEntryFromInspect(stopped, entryOptions);
    expect(e.running).toBe(false);
    expect(e.ports).toEqual([]);
    expect(e.networks).toEqual([]);
  });

  it('older daemons: top-level and secondary addresses are kept', () => {
    const old = {
      Id: 'f'.repeat(64),
      NetworkSettings: { IPAddress: '10.1.0.5', SecondaryIPAddresses: [{ Addr: '10.1.0.6' }], LinkLocalIPv6Address: 'fe80::5', Networks: null },
    } as ContainerNetwork;
    const e = peerEntryFromInspect(old, entryOptions);
    expect(e.networks).toStrictEqual([{ network: '', ipv4: '10.1.0.5', linkLocalIpv6: ['fe80::5'], secondary: ['10.1.0.6'] }]);
    const d = directory();
    d.upsert(old);
    expect(d.resolve('10.1.0.6', 1, 'tcp')?.container.id).toBe('f'.repeat(64));
  });
});

describe('PeerDirectory.resolve', () => {
  it('an address on the default bridge', () => {
    const d = full();
    expect(d.resolve('172.17.0.3', 80, 'tcp', { netnsInode: NS_USER })).toStrictEqual({
      container: { id: BRIDGE.Id, name: 'pg-bridge', image: 'contguard-test/busybox:latest', labels: { app: 'web' } },
      via: 'address',
    });
  });

  it('an address on a user network; every network of a container with two', () => {
    const d = full();
    expect(who(d.resolve('172.18.0.2', 5432, 'tcp'))).toBe('pg-user address');
    expect(who(d.resolve('172.18.0.3', 1, 'tcp'))).toBe('pg-multi address');
    expect(who(d.resolve('172.19.0.3', 1, 'tcp'))).toBe('pg-multi address');
    expect(who(d.resolve('fd00:cafe::3', 1, 'tcp'))).toBe('pg-multi address');
  });

  it('a global IPv6 address in any spelling, and the link-local address', () => {
    const d = full();
    expect(who(d.resolve('fd00:cafe::2', 82, 'tcp'))).toBe('pg-v6 address');
    expect(who(d.resolve('FD00:CAFE:0:0:0:0:0:0002', 82, 'tcp'))).toBe('pg-v6 address');
    expect(who(d.resolve('[fd00:cafe::2]', 82, 'tcp'))).toBe('pg-v6 address');
    expect(who(d.resolve('fe80::42:acff:fe13:2%eth0', 82, 'tcp'))).toBe('pg-v6 address');
    const bytes = new Uint8Array([0xfd, 0x00, 0xca, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    expect(who(d.resolve(bytes, 82, 'tcp'))).toBe('pg-v6 address');
    expect(d.resolve('fd00:cafe::99', 82, 'tcp')).toBeNull();
  });

  it('IPv4-mapped IPv6 is the IPv4 address (dotted, hex, bytes)', () => {
    const d = full();
    expect(who(d.resolve('::ffff:172.17.0.3', 80, 'tcp'))).toBe('pg-bridge address');
    expect(who(d.resolve('::FFFF:ac11:3', 80, 'tcp'))).toBe('pg-bridge address');
    expect(who(d.resolve('0:0:0:0:0:ffff:172.18.0.2', 80, 'tcp'))).toBe('pg-user address');
    const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 172, 17, 0, 3];
    expect(who(d.resolve(mapped, 80, 'tcp'))).toBe('pg-bridge address');
    expect(who(d.resolve(new Uint8Array([172, 17, 0, 3]), 80, 'tcp'))).toBe('pg-bridge address');
  });

  it('a port published on every address (HostIp empty -> 0.0.0.0 and ::): any host address, the gateways, 0.0.0.0', () => {
    const d = full();
    const fromUser = { netnsInode: NS_USER, localContainerId: USER.Id };
    expect(who(d.resolve('192.0.2.2', 18080, 'tcp', fromUser))).toBe('pg-bridge published_port');
    expect(who(d.resolve('::ffff:192.0.2.2', 18080, 'tcp', fromUser))).toBe('pg-bridge published_port');
    expect(who(d.resolve('172.18.0.1', 18080, 'tcp', fromUser))).toBe('pg-bridge published_port'); // its own gateway
    expect(who(d.resolve('fd00::2', 18082, 'tcp', fromUser))).toBe('pg-v6 published_port');
    expect(who(d.resolve('fe80::fc:ff:fe00:1', 18082, 'tcp', fromUser))).toBe('pg-v6 published_port');
    // In the host's namespace loopback and the unspecified address are host addresses too.
    expect(who(d.resolve('127.0.0.1', 18080, 'tcp', { netnsInode: HOST_NETNS }))).toBe('pg-bridge published_port');
    expect(who(d.resolve('::1', 18080, 'tcp', { netnsInode: HOST_NETNS }))).toBe('pg-bridge published_port');
    expect(who(d.resolve('0.0.0.0', 18080, 'tcp', { netnsInode: HOST_NETNS }))).toBe('pg-bridge published_port');
    expect(who(d.resolve('127.0.0.1', 18080, 'tcp'))).toBe('pg-bridge published_port'); // a host process, nothing known
    // Only that transport.
    expect(d.resolve('192.0.2.2', 18080, 'udp', fromUser)).toBeNull();
    expect(who(d.resolve('192.0.2.2', 18080, 'TCP', fromUser))).toBe('pg-bridge published_port');
  });

  it('a port published on one HostIp: that address only', () => {
    const d = full();
    expect(who(d.resolve('127.0.0.1', 18081, 'udp', { netnsInode: HOST_NETNS }))).toBe('pg-bridge published_port');
    expect(who(d.resolve('0.0.0.0', 18081, 'udp', { netnsInode: HOST_NETNS }))).toBe('pg-bridge published_port');
    expect(d.resolve('127.0.0.2', 18081, 'udp', { netnsInode: HOST_NETNS })).toBeNull();
    expect(d.resolve('192.0.2.2', 18081, 'udp')).toBeNull();
    expect(d.resolve('127.0.0.1', 18081, 'tcp', { netnsInode: HOST_NETNS })).toBeNull();
  });

  it('a specific HostIp binding wins over a wildcard one of the same port', () => {
    const d = full();
    d.upsert({ ...USER, NetworkSettings: { ...USER.NetworkSettings, Ports: { '9000/tcp': [{ HostIp: '', HostPort: '19000' }] } } } as ContainerNetwork);
    d.upsert({ ...NONE, NetworkSettings: { ...NONE.NetworkSettings, Ports: { '9000/tcp': [{ HostIp: '192.0.2.2', HostPort: '19000' }] } } } as ContainerNetwork);
    expect(who(d.resolve('192.0.2.2', 19000, 'tcp'))).toBe('pg-none published_port');
    expect(who(d.resolve('172.17.0.1', 19000, 'tcp'))).toBe('pg-user published_port');
  });

  it('a host address with a port nobody publishes: null', () => {
    const d = full();
    expect(d.resolve('192.0.2.2', 9999, 'tcp', { netnsInode: NS_USER, localContainerId: USER.Id })).toBeNull();
    expect(d.resolve('172.17.0.1', 53, 'udp', { netnsInode: NS_BRIDGE, localContainerId: BRIDGE.Id })).toBeNull();
    expect(d.resolve('127.0.0.1', 22, 'tcp', { netnsInode: HOST_NETNS })).toBeNull();
    // Not a host address and not a container's: external.
    expect(d.resolve('198.51.100.7', 18080, 'tcp')).toBeNull();
    expect(d.resolve('not-an-address', 80, 'tcp')).toBeNull();
  });

  it('the Docker gateways count as host addresses even when the host interfaces are not visible', () => {
    const d = directory({ hostAddresses: [] });
    for (const c of ALL) d.upsert(c);
    expect(who(d.resolve('172.17.0.1', 18080, 'tcp'))).toBe('pg-bridge published_port');
    expect(who(d.resolve('fd00:cafe::1', 18082, 'tcp'))).toBe('pg-v6 published_port');
    expect(d.resolve('192.0.2.2', 18080, 'tcp')).toBeNull();
    d.remove(BRIDGE.Id);
    expect(d.resolve('172.17.0.1', 18082, 'tcp')).toBeNull(); // no container on docker0 names its gateway any more
    expect(who(d.resolve('172.18.0.1', 18082, 'tcp'))).toBe('pg-v6 published_port');
  });

  it('loopback in the local container\'s own namespace: the local container', () => {
    const d = full();
    expect(who(d.resolve('127.0.0.1', 80, 'tcp', { netnsInode: NS_BRIDGE, localContainerId: BRIDGE.Id }))).toBe('pg-bridge loopback');
    expect(who(d.resolve('127.4.5.6', 80, 'tcp', { netnsInode: NS_BRIDGE, localContainerId: BRIDGE.Id }))).toBe('pg-bridge loopback');
    expect(who(d.resolve('::1', 82, 'tcp', { netnsInode: NS_V6, localContainerId: V6.Id }))).toBe('pg-v6 loopback');
    expect(who(d.resolve('::ffff:127.0.0.1', 82, 'tcp', { netnsInode: NS_V6, localContainerId: V6.Id }))).toBe('pg-v6 loopback');
    expect(who(d.resolve('0.0.0.0', 80, 'tcp', { netnsInode: NS_USER, localContainerId: USER.Id }))).toBe('pg-user loopback');
    expect(who(d.resolve('127.0.0.1', 80, 'tcp', { netnsInode: NS_NONE, localContainerId: NONE.Id }))).toBe('pg-none loopback');
    // Inside a container a published port means nothing: its loopback is its own.
    expect(who(d.resolve('127.0.0.1', 18080, 'tcp', { netnsInode: NS_USER, localContainerId: USER.Id }))).toBe('pg-user loopback');
    // Namespace alone, or container alone (netns 0 = unknown).
    expect(who(d.resolve('127.0.0.1', 80, 'tcp', { netnsInode: NS_USER }))).toBe('pg-user loopback');
    expect(who(d.resolve('127.0.0.1', 80, 'tcp', { netnsInode: 0, localContainerId: USER.Id }))).toBe('pg-user loopback');
  });

  it('loopback in a container: shared namespace: the namespace owner', () => {
    const d = full();
    const m = d.resolve('127.0.0.1', 80, 'tcp', { netnsInode: NS_BRIDGE, localContainerId: SHARED.Id });
    expect(m?.container.id).toBe(BRIDGE.Id);
    expect(m?.via).toBe('shared_namespace');
    expect(who(d.resolve('::1', 80, 'tcp', { localContainerId: SHARED.Id }))).toBe('pg-bridge shared_namespace');
    // The owner talking to itself (or to pg-shared's listener: one namespace, the owner is named).
    expect(who(d.resolve('127.0.0.1', 80, 'tcp', { netnsInode: NS_BRIDGE, localContainerId: BRIDGE.Id }))).toBe('pg-bridge loopback');
  });

  it('container: mode: the owner upserted after its member; owner unknown; a namespace the owner is not in', () => {
    const d = directory();
    d.upsert(SHARED);
    expect(d.resolve('127.0.0.1', 80, 'tcp', { netnsInode: NS_BRIDGE, localContainerId: SHARED.Id })).toBeNull();
    d.upsert(BRIDGE);
    expect(who(d.resolve('127.0.0.1', 80, 'tcp', { netnsInode: NS_BRIDGE, localContainerId: SHARED.Id }))).toBe('pg-bridge shared_namespace');
    // The owner was restarted (new namespace) while the member kept the old one.
    expect(d.resolve('127.0.0.1', 80, 'tcp', { netnsInode: 4026599999, localContainerId: SHARED.Id })).toBeNull();
    // The owner's netns unreadable: the member's container id still leads to it.
    const blind = new PeerDirectory({ hostAddresses: () => [], hostNetnsInodes: [HOST_NETNS], entryOptions: { netnsInode: () => undefined } });
    blind.upsert(BRIDGE);
    blind.upsert(SHARED);
    expect(who(blind.resolve('127.0.0.1', 80, 'tcp', { netnsInode: NS_BRIDGE, localContainerId: SHARED.Id }))).toBe('pg-bridge shared_namespace');
    // An unknown container in an unknown namespace: nothing to say.
    expect(blind.resolve('127.0.0.1', 80, 'tcp', { netnsInode: 4026599999, localContainerId: 'e'.repeat(64) })).toBeNull();
  });

  it('host-network containers: no address of their own, nothing published; loopback is the host\'s', () => {
    const d = full();
    const fromHostNet = { netnsInode: HOST_NETNS, localContainerId: HOST.Id };
    // Its listener on a host address (or loopback) is named by the sensor from the kernel listener table, not here.
    expect(d.resolve('192.0.2.2', 8080, 'tcp', { netnsInode: NS_USER, localContainerId: USER.Id })).toBeNull();
    expect(d.resolve('127.0.0.1', 8080, 'tcp', fromHostNet)).toBeNull();
    expect(d.resolve('127.0.0.1', 8080, 'tcp', { localContainerId: HOST.Id })).toBeNull();
    // From it, another container's published port on loopback is that container.
    expect(who(d.resolve('127.0.0.1', 18080, 'tcp', fromHostNet))).toBe('pg-bridge published_port');
    expect(who(d.resolve('127.0.0.1', 18080, 'tcp', { localContainerId: HOST.Id }))).toBe('pg-bridge published_port');
    // The host namespace is learnt from a host-network container's SandboxKey (.../netns/default).
    const learn = directory({ hostNetnsInodes: [] });
    learn.upsert(BRIDGE);
    expect(learn.resolve('127.0.0.1', 18080, 'tcp', { netnsInode: HOST_NETNS })).toBeNull();
    learn.upsert(HOST);
    expect(who(learn.resolve('127.0.0.1', 18080, 'tcp', { netnsInode: HOST_NETNS }))).toBe('pg-bridge published_port');
  });
});

describe('PeerDirectory feeding', () => {
  it('remove: its addresses, ports, namespace and shared members resolve no more', () => {
    const d = full();
    d.remove(BRIDGE.Id);
    expect(d.get(BRIDGE.Id)).toBeUndefined();
    expect(d.resolve('172.17.0.3', 80, 'tcp')).toBeNull();
    expect(d.resolve('192.0.2.2', 18080, 'tcp')).toBeNull();
    expect(d.resolve('127.0.0.1', 18081, 'udp', { netnsInode: HOST_NETNS })).toBeNull();
    expect(d.resolve('127.0.0.1', 80, 'tcp', { netnsInode: NS_BRIDGE, localContainerId: BRIDGE.Id })).toBeNull();
    expect(d.resolve('127.0.0.1', 80, 'tcp', { netnsInode: NS_BRIDGE, localContainerId: SHARED.Id })).toBeNull();
    expect(who(d.resolve('192.0.2.2', 18082, 'tcp'))).toBe('pg-v6 published_port'); // others untouched
    d.remove(BRIDGE.Id); // twice: no-op
    d.remove('nope');
    expect(d.size).toBe(ALL.length - 1);
  });

  it('re-upsert replaces: a network disconnected, a rename', () => {
    const d = full();
    const { ['pg-v6net']: _gone, ...usernetOnly } = MULTI.NetworkSettings!.Networks!;
    d.upsert({ ...MULTI, Name: '/renamed', NetworkSettings: { ...MULTI.NetworkSettings, Networks: usernetOnly } } as ContainerNetwork);
    expect(d.resolve('172.19.0.3', 1, 'tcp')).toBeNull();
    expect(d.resolve('fd00:cafe::3', 1, 'tcp')).toBeNull();
    expect(who(d.resolve('172.18.0.3', 1, 'tcp'))).toBe('renamed address');
    expect(d.size).toBe(ALL.length);
  });

  it('an upsert of a stopped container removes it', () => {
    const d = full();
    d.upsert({ ...USER, State: { Running: false, Pid: 0 } } as ContainerNetwork);
    expect(d.get(USER.Id)).toBeUndefined();
    expect(d.resolve('172.18.0.2', 1, 'tcp')).toBeNull();
  });

  it('an address claimed twice (a stale entry): the latest upsert wins; removing the stale one keeps it', () => {
    const d = full();
    const newcomer = { ...USER, Id: '9'.repeat(64), Name: '/newcomer', NetworkSettings: { ...USER.NetworkSettings, SandboxKey: '' } } as ContainerNetwork;
    d.upsert(newcomer);
    expect(who(d.resolve('172.18.0.2', 1, 'tcp'))).toBe('newcomer address');
    d.remove(USER.Id);
    expect(who(d.resolve('172.18.0.2', 1, 'tcp'))).toBe('newcomer address');
    d.remove(newcomer.Id);
    expect(d.resolve('172.18.0.2', 1, 'tcp')).toBeNull();
  });

  it('bounded: at most maxContainers, the oldest upsert out first (with everything it indexed); default 8192', () => {
    const d = directory({ maxContainers: 3 });
    d.upsert(BRIDGE);
    d.upsert(USER);
    d.upsert(V6);
    d.upsert(BRIDGE); // a re-upsert makes it the newest
    d.upsert(NONE); // USER goes
    expect(d.size).toBe(3);
    expect(d.get(USER.Id)).toBeUndefined();
    expect(d.resolve('172.18.0.2', 1, 'tcp')).toBeNull();
    expect(d.resolve('127.0.0.1', 80, 'tcp', { netnsInode: NS_USER })).toBeNull();
    expect(who(d.resolve('172.17.0.3', 1, 'tcp'))).toBe('pg-bridge address');
    d.upsert(MULTI); // V6 goes, and its published port with it
    expect(d.resolve('192.0.2.2', 18082, 'tcp')).toBeNull();
    expect(d.size).toBe(3);
    for (let i = 0; i < 10; i++) d.upsert({ ...USER, Id: `${i}`.repeat(64), NetworkSettings: { ...USER.NetworkSettings, SandboxKey: '' } } as ContainerNetwork);
    expect(d.size).toBe(3);
    const internals = (x: PeerDirectory) => x as unknown as { byAddress: Map<string, string[]>; byPort: Map<string, unknown>; byNetns: Map<number, unknown>; maxContainers: number };
    expect(internals(d).byAddress.get('172.18.0.2')).toHaveLength(3);
    expect(internals(d).byPort.size).toBe(0);
    expect(internals(d).byNetns.size).toBe(0);
    expect(internals(new PeerDirectory({ hostAddresses: () => [], hostNetnsInodes: [] })).maxContainers).toBe(8192);
  });

  it('removeAfter: late events still resolve, then it goes; an upsert in between cancels it', () => {
    vi.useFakeTimers();
    try {
      const d = full();
      d.removeAfter(USER.Id, 60_000);
      d.removeAfter(V6.Id, 60_000);
      vi.advanceTimersByTime(59_000);
      expect(who(d.resolve('172.18.0.2', 1, 'tcp'))).toBe('pg-user address');
      d.upsert(V6); // restarted meanwhile
      vi.advanceTimersByTime(2_000);
      expect(d.resolve('172.18.0.2', 1, 'tcp')).toBeNull();
      expect(who(d.resolve('fd00:cafe::2', 1, 'tcp'))).toBe('pg-v6 address');
    } finally {
      vi.useRealTimers();
    }
  });

  it('refreshHostAddresses: a bridge that came later', () => {
    let addrs = ['192.0.2.2'];
    const d = new PeerDirectory({ hostAddresses: () => addrs, hostNetnsInodes: [HOST_NETNS], entryOptions });
    d.upsert(BRIDGE);
    expect(d.resolve('10.99.0.1', 18080, 'tcp')).toBeNull();
    addrs = ['192.0.2.2', '10.99.0.1'];
    d.refreshHostAddresses();
    expect(who(d.resolve('10.99.0.1', 18080, 'tcp'))).toBe('pg-bridge published_port');
  });
});

/** A PeerNetworkSource answering from a table; 'hang' answers when released; a number is a daemon error. */
class FakeSource implements PeerNetworkSource {
  readonly table = new Map<string, ContainerNetwork | number | 'hang'>();
  readonly calls: string[] = [];
  private readonly waiting: (() => void)[] = [];
  inspectNetwork(id: string): Promise<ContainerNetwork | null> {
    this.calls.push(id);
    const answer = this.table.get(id);
    if (answer === 'hang') {
      const at = () => this.table.get(id);
      return new Promise((resolve, reject) =>
        this.waiting.push(() => {
          const a = at();
          if (typeof a === 'number') reject(new Error(`status ${a}`));
          else resolve(a === undefined || a === 'hang' ? null : a);
        }),
      );
    }
    if (typeof answer === 'number') return Promise.reject(Object.assign(new Error(`status ${answer}`), { statusCode: answer }));
    return Promise.resolve(answer ?? null);
  }
  listRunning(): Promise<string[]> {
    return Promise.resolve([...this.table.keys()]);
  }
  release(): void {
    for (const w of this.waiting.splice(0)) w();
  }
}

describe('Docker events and seeding', () => {
  it('which events matter (shapes from `docker events` on that host)', () => {
    const cid = MULTI.Id;
    const net = '75504624498fec2d4dae946be2195d3c054ed2eb38b24c4f338c442a0c7dbc61';
    const netAttrs = { container: cid, name: 'pg-v6net', type: 'bridge' };
    expect(peerEventAction('network', 'connect', net, netAttrs)).toStrictEqual({ op: 'reinspect', containerId: cid });
    expect(peerEventAction('network', 'disconnect', net, netAttrs)).toStrictEqual({ op: 'reinspect', containerId: cid });
    expect(peerEventAction(undefined, 'connect', net, netAttrs)).toStrictEqual({ op: 'reinspect', containerId: cid });
    expect(peerEventAction('network', 'create', net, { name: 'x', type: 'bridge' })).toStrictEqual({ op: 'host_addresses' });
    expect(peerEventAction('network', 'destroy', net, { name: 'x', type: 'bridge' })).toStrictEqual({ op: 'host_addresses' });
    const attrs = { image: 'contguard-test/busybox:latest', name: 'pg-none' };
    expect(peerEventAction('container', 'start', NONE.Id, attrs)).toStrictEqual({ op: 'reinspect', containerId: NONE.Id });
    expect(peerEventAction('container', 'rename', NONE.Id, { ...attrs, oldName: '/x' })).toStrictEqual({ op: 'reinspect', containerId: NONE.Id });
    expect(peerEventAction('container', 'die', NONE.Id, { ...attrs, exitCode: '137' })).toStrictEqual({ op: 'remove', containerId: NONE.Id });
    expect(peerEventAction(undefined, 'destroy', NONE.Id, attrs)).toStrictEqual({ op: 'remove', containerId: NONE.Id });
    for (const a of ['create', 'kill', 'stop', 'restart', 'pause', 'exec_start: sh', 'exec_die']) expect(peerEventAction('container', a, NONE.Id, attrs)).toBeNull();
    expect(peerEventAction('image', 'pull', 'x', {})).toBeNull();
  });

  it('handlePeerDockerEvent: re-inspect on connect/start, removal on die, stopped answer removes', async () => {
    const d = directory();
    const src = new FakeSource();
    src.table.set(USER.Id, USER);
    expect(await handlePeerDockerEvent(d, src, 'container', 'start', USER.Id, {})).toBe('upserted');
    expect(who(d.resolve('172.18.0.2', 1, 'tcp'))).toBe('pg-user address');
    expect(handlePeerDockerEvent(d, src, 'container', 'die', USER.Id, {})).toBeNull();
    expect(d.get(USER.Id)).toBeUndefined();
    src.table.set(USER.Id, { ...USER, State: { Running: false, Pid: 0 } } as ContainerNetwork);
    expect(await handlePeerDockerEvent(d, src, 'network', 'disconnect', 'n', { container: USER.Id })).toBe('removed');
    expect(await handlePeerDockerEvent(d, src, 'network', 'connect', 'n', { container: 'gone' })).toBe('removed'); // 404
    expect(handlePeerDockerEvent(d, src, 'container', 'exec_die', USER.Id, {})).toBeNull();
    expect(src.calls).toEqual([USER.Id, USER.Id, 'gone']);
  });

  it('an answer overtaken by a removal or a later refresh is dropped; a daemon error keeps the entry', async () => {
    const d = directory();
    const src = new FakeSource();
    src.table.set(USER.Id, 'hang');
    const first = d.refresh(src, USER.Id);
    d.remove(USER.Id); // die arrived while the inspect was in flight
    src.table.set(USER.Id, USER);
    src.release();
    expect(await first).toBe('superseded');
    expect(d.get(USER.Id)).toBeUndefined();

    src.table.set(V6.Id, 'hang');
    const older = d.refresh(src, V6.Id);
    src.table.set(V6.Id, V6);
    const newer = d.refresh(src, V6.Id);
    expect(await newer).toBe('upserted');
    src.table.set(V6.Id, { ...V6, State: { Running: false } } as ContainerNetwork);
    src.release();
    expect(await older).toBe('superseded');
    expect(d.get(V6.Id)).toBeDefined();

    src.table.set(V6.Id, 500);
    expect(await d.refresh(src, V6.Id)).toBe('failed');
    expect(d.get(V6.Id)).toBeDefined();
  });

  it('seed: every running container, a few at a time', async () => {
    const d = directory();
    const src = new FakeSource();
    for (const c of ALL) src.table.set(c.Id, c);
    src.table.set('e'.repeat(64), 503);
    expect(await d.seed(src, 3)).toBe(ALL.length);
    expect(d.size).toBe(ALL.length);
    expect(who(d.resolve('127.0.0.1', 80, 'tcp', { netnsInode: NS_BRIDGE, localContainerId: SHARED.Id }))).toBe('pg-bridge shared_namespace');
  });
});

describe('addresses and namespaces', () => {
  it('normalizeAddress', () => {
    const cases: [string | number[], string | null][] = [
      ['10.0.0.1', '10.0.0.1'],
      [' 10.0.0.1 ', '10.0.0.1'],
      ['::FFFF:10.0.0.1', '10.0.0.1'],
      ['::ffff:a00:1', '10.0.0.1'],
      ['::1', '::1'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['::', '::'],
      ['::ffff:0.0.0.0', '0.0.0.0'],
      ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first longest run
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
      ['fe80::1%br-75504624498f', 'fe80::1'],
      ['[fd00::2]', 'fd00::2'],
      ['::10.0.0.1', '::a00:1'], // IPv4-compatible (deprecated) is not mapped
      [[10, 0, 0, 1], '10.0.0.1'],
      ['256.0.0.1', null],
      ['10.0.0', null],
      ['1:2:3:4:5:6:7:8:9', null],
      ['1::2::3', null],
      ['', null],
      ['g::1', null],
      [[1, 2, 3], null],
    ];
    for (const [input, out] of cases) expect(normalizeAddress(input), String(input)).toBe(out);
  });

  it('linkLocalFromMac (EUI-64 as the kernel forms it)', () => {
    expect(linkLocalFromMac('02:42:ac:13:00:02')).toBe('fe80::42:acff:fe13:2');
    expect(linkLocalFromMac('02:42:60:33:d1:2c')).toBe('fe80::42:60ff:fe33:d12c'); // docker0 on that host
    expect(linkLocalFromMac('not-a-mac')).toBeNull();
  });

  it('netnsInodeOf: a namespace file gives its inode; an ordinary file or a missing one gives nothing', () => {
    const link = fs.readlinkSync('/proc/self/ns/net'); // net:[4026531833]
    expect(netnsInodeOf('/proc/self/ns/net')).toBe(Number(/\[(\d+)\]/.exec(link)![1]));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'contguard-netns-'));
    try {
      const stale = path.join(dir, '240eec2cb276'); // a SandboxKey left behind, no longer a mount
      fs.writeFileSync(stale, '');
      expect(netnsInodeOf(stale)).toBeUndefined();
      expect(netnsInodeOf(path.join(dir, 'missing'))).toBeUndefined();
      expect(netnsInodeOf('')).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

afterEach(() => {
  vi.useRealTimers();
});
