// SPDX-License-Identifier: Apache-2.0
/**
 * network sensor end to end (real kernel, real Docker; traffic only between containers this
 * test starts): a busybox httpd and a wget client joined in one record naming both ends, IPv6,
 * a published host port, a policy violation, a refused connection, bytes on close.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { freePort, readJsonLines, startAgent, waitForJsonLine, type AgentHandle } from '../support/agent-process.js';
import { docker, dockerInspect, waitLogs, dockerRm, dockerRun, ensureTestImage, uniqueName, waitForExit, TEST_IMAGE } from '../support/docker.js';

const PAYLOAD_BYTES = 200_000;

describe('network sensor (real kernel, real Docker)', () => {
  let agent: AgentHandle;
  const ids: string[] = [];
  const networks: string[] = [];
  const server = uniqueName('cg-httpd');
  let serverIp = '';
  let serverIp6 = '';
  const hostPort = 20000 + Math.floor(Math.random() * 20000);
  const v6net = uniqueName('cg-v6');
  let promPort = 0;

  beforeAll(async () => {
    await ensureTestImage();
    // An IPv6-enabled user network (ULA prefix, no outside traffic).
    const subnet = `fd00:${Math.floor(Math.random() * 0xffff).toString(16)}:${Math.floor(Math.random() * 0xffff).toString(16)}::/64`;
    await docker(['network', 'create', '--ipv6', '--subnet', subnet, v6net]);
    networks.push(v6net);
    const dir = mkdtempSync(join(tmpdir(), 'cg-net-cfg-'));
    writeFileSync(
      join(dir, 'contguard.yaml'),
      [
        'sensors:',
        '  network:',
        '    policy:',
        '      rules:',
        `        - { name: client-to-web, from: { name: "cg-client-*" }, to: { name: "${server}" }, ports: [8080] }`,
        '',
      ].join('\n'),
    );
    promPort = await freePort();
    agent = await startAgent({ args: ['--config', join(dir, 'contguard.yaml'), '--prometheus', `127.0.0.1:${promPort}`] });
    // The server: busybox httpd on 8080, serving a known payload, on the v6 network and published.
    ids.push(
      await dockerRun([
        '--name', server, '--network', v6net, '-p', `127.0.0.1:${hostPort}:8080`, TEST_IMAGE,
        'sh', '-c', `mkdir -p /www && head -c ${PAYLOAD_BYTES} /dev/zero > /www/payload && echo ready && exec /bin/httpd -f -p 8080 -h /www`,
      ]),
    );
    await waitLogs(server, /ready/);
    const info = await dockerInspect(server);
    serverIp = info.NetworkSettings.Networks[v6net].IPAddress;
    serverIp6 = info.NetworkSettings.Networks[v6net].GlobalIPv6Address;
  });

  afterAll(async () => {
    await agent?.cleanup();
    await dockerRm(ids);
    for (const n of networks) await docker(['network', 'rm', n]).catch(() => undefined);
  });

  const connects = (pred: (r: any) => boolean) => (r: any) => r.event === 'contguard.network.connect' && pred(r);

  it('joins a wget client and the httpd server in one record naming both ends; the server side is attributed to httpd', async () => {
    const client = uniqueName('cg-client');
    ids.push(await dockerRun(['--name', client, '--network', v6net, TEST_IMAGE, '/bin/wget', '-q', '-O', '/dev/null', `http://${serverIp}:8080/payload`]));
    await waitForExit(client);
    const r = await waitForJsonLine(agent.logDir, connects((x) => x.attributes['container.name'] === client), 15_000);
    expect(r.attributes['process.executable.name']).toBe('wget');
    expect(r.attributes['network.io.direction']).toBe('transmit');
    expect(r.attributes['network.peer.address']).toBe(serverIp);
    expect(r.attributes['network.peer.port']).toBe(8080);
    expect(r.attributes['contguard.network.peer.container.name']).toBe(server);
    expect(r.attributes['contguard.network.peer.process.name']).toBe('httpd');
    expect(r.body).toContain(client);
    expect(r.body).toContain(server);
    expect(r.body).toContain('comm:httpd');
    expect(r.body).toContain('comm:wget');
    // One joined record for the connection: no separate inbound record on the server's side.
    const lines = readJsonLines(agent.logDir).filter(connects((x) => x.attributes['container.name'] === server));
    expect(lines).toEqual([]);
    // The server side is attributed to httpd's container: its close record.
    const close = await waitForJsonLine(agent.logDir, (x) => x.event === 'contguard.network.close' && x.attributes['container.name'] === server && x.attributes['network.peer.address'] === r.attributes['network.local.address'], 15_000);
    expect(close.attributes['process.executable.name']).toBe('httpd');
    expect(close.attributes['network.io.direction']).toBe('receive');
    // Bytes on close match what was sent (payload + HTTP headers, within a few percent).
    expect(close.attributes['contguard.network.bytes_sent']).toBeGreaterThanOrEqual(PAYLOAD_BYTES);
    expect(close.attributes['contguard.network.bytes_sent']).toBeLessThan(PAYLOAD_BYTES * 1.03);
    const clientClose = await waitForJsonLine(agent.logDir, (x) => x.event === 'contguard.network.close' && x.attributes['container.name'] === client, 15_000);
    expect(clientClose.attributes['contguard.network.bytes_received']).toBeGreaterThanOrEqual(PAYLOAD_BYTES);
    expect(clientClose.attributes['contguard.network.bytes_received']).toBeLessThan(PAYLOAD_BYTES * 1.03);
    // container.network.io, counted in the kernel per container: the server sent at least the payload.
    const metrics = await (await fetch(`http://127.0.0.1:${promPort}/metrics`)).text();
    const sent = metrics
      .split('\n')
      .find((l) => l.startsWith('container_network_io_total{') && l.includes(`container_name="${server}"`) && l.includes('network_io_direction="transmit"'));
    expect(sent, 'container_network_io_total of the server').toBeDefined();
    expect(Number(sent!.slice(sent!.lastIndexOf(' ') + 1))).toBeGreaterThanOrEqual(PAYLOAD_BYTES);
    // Allowed by the policy: no violation for this client.
    expect(readJsonLines(agent.logDir).filter((x: any) => x.event === 'contguard.network.policy_violation' && x.attributes['container.name'] === client)).toEqual([]);
  });

  it('the same over IPv6', async () => {
    const client = uniqueName('cg-client6');
    ids.push(await dockerRun(['--name', client, '--network', v6net, TEST_IMAGE, '/bin/wget', '-q', '-O', '/dev/null', `http://[${serverIp6}]:8080/payload`]));
    await waitForExit(client);
    const r = await waitForJsonLine(agent.logDir, connects((x) => x.attributes['container.name'] === client), 15_000);
    expect(r.attributes['network.type']).toBe('ipv6');
    expect(r.attributes['network.peer.address']).toBe(serverIp6);
    expect(r.attributes['contguard.network.peer.container.name']).toBe(server);
    expect(r.attributes['contguard.network.peer.process.name']).toBe('httpd');
  });

  it('through a published host port: the peer is the container that publishes it', async () => {
    const client = uniqueName('cg-client-pub');
    ids.push(await dockerRun(['--name', client, '--network', 'host', TEST_IMAGE, '/bin/wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${hostPort}/payload`]));
    await waitForExit(client);
    const r = await waitForJsonLine(agent.logDir, connects((x) => x.attributes['container.name'] === client), 15_000);
    expect(r.attributes['network.peer.port']).toBe(hostPort);
    expect(r.attributes['contguard.network.peer.container.name']).toBe(server);
    expect(r.attributes['contguard.network.peer.via']).toBe('published_port');
  });

  it('raises a policy violation for a container no rule allows, and counts it', async () => {
    const intruder = uniqueName('cg-intruder');
    ids.push(await dockerRun(['--name', intruder, '--network', v6net, TEST_IMAGE, '/bin/wget', '-q', '-O', '/dev/null', `http://${serverIp}:8080/payload`]));
    await waitForExit(intruder);
    const v = await waitForJsonLine(agent.logDir, (x) => x.event === 'contguard.network.policy_violation' && x.attributes['container.name'] === intruder, 15_000);
    expect(v.severity).toBe('WARN');
    expect(v.attributes['contguard.network.violation']).toBe('no rule matched');
    expect(v.attributes['contguard.network.peer.container.name']).toBe(server);
  });

  it('reports a refused connection as a failure with the reason', async () => {
    const client = uniqueName('cg-client-refused');
    ids.push(await dockerRun(['--name', client, '--network', v6net, TEST_IMAGE, 'sh', '-c', `/bin/nc -w 2 ${serverIp} 8081 </dev/null || true`]));
    await waitForExit(client);
    const f = await waitForJsonLine(agent.logDir, (x) => x.event === 'contguard.network.failed' && x.attributes['container.name'] === client, 15_000);
    expect(f.attributes['error.type']).toBe('ECONNREFUSED');
    expect(f.attributes['process.executable.name']).toBe('nc');
    expect(f.attributes['network.peer.port']).toBe(8081);
    expect(f.attributes['contguard.network.peer.container.name']).toBe(server);
  });

  it('UDP: the first datagram of a container to a peer and port in the interval is one record', async () => {
    const client = uniqueName('cg-client-udp');
    ids.push(await dockerRun(['--name', client, '--network', v6net, TEST_IMAGE, 'sh', '-c', `for i in 1 2 3; do /bin/nslookup -timeout=1 -retry=1 cg.test ${serverIp}; done; true`]));
    await waitForExit(client, 30_000);
    const r = await waitForJsonLine(agent.logDir, connects((x) => x.attributes['container.name'] === client && x.attributes['network.transport'] === 'udp'), 15_000);
    expect(r.attributes['network.peer.port']).toBe(53);
    expect(r.attributes['contguard.network.peer.container.name']).toBe(server);
    const all = readJsonLines(agent.logDir).filter(connects((x) => x.attributes['container.name'] === client && x.attributes['network.transport'] === 'udp' && x.attributes['network.peer.port'] === 53));
    expect(all).toHaveLength(1); // three queries (three sockets), one record in the interval
  });
});
