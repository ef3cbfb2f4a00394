// SPDX-License-Identifier: Apache-2.0
/**
 * Which metadata sources the agent uses, from the config and what the host has.
 *
 * - Docker: `docker.socket`, when `docker.enabled` (as before this module existed: a daemon that
 *   does not answer gets one warning line).
 * - Podman: `metadata.podman.socket`, its Docker-compatible API (`podman system service`).
 * - containerd: `metadata.containerd.state_dir`, read-only (oci-state.ts).
 * - CRI-O: `metadata.crio.state_dir`, read-only (oci-state.ts).
 *
 * `metadata.sources: auto` takes Docker as above plus every other runtime found here: a socket
 * that answers a ping, a state directory that exists; one not found is quietly left out. A list
 * takes exactly the runtimes it names, in its order, and each one not found gets one warning line.
 */
import { statSync } from 'node:fs';
import type { AgentConfig } from '../config.js';
import type { AgentLogger } from '../log.js';
import { DockerMetadataSource } from './docker-metadata.js';
import type { MetadataSource, RuntimeName } from './metadata-source.js';
import { ContainerdStateSource, CrioStateSource } from './oci-state.js';

export interface SelectedSources {
  /** In the order lookups ask them (after the runtime a container's cgroup path names). */
  sources: MetadataSource[];
  /** The Docker source, when used (the network sensor reads addresses from it). */
  docker: DockerMetadataSource | null;
  /** One line per source in use: `docker (/var/run/docker.sock)`. */
  described: string[];
}

const AUTO_ORDER: readonly RuntimeName[] = ['docker', 'podman', 'containerd', 'cri-o'];

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export interface SourceProbes {
  /** Whether an Engine API socket answers (default: a ping with a 2 s bound). */
  answers(source: DockerMetadataSource): Promise<boolean>;
  isDirectory(path: string): boolean;
}

const REAL_PROBES: SourceProbes = { answers: (s) => s.available(), isDirectory };

/** Opens the metadata sources the config asks for and the host has (see the module comment). */
export async function selectMetadataSources(cfg: AgentConfig, logger: AgentLogger, probes: SourceProbes = REAL_PROBES): Promise<SelectedSources> {
  const listed = cfg.metadata.sources === 'auto' ? null : cfg.metadata.sources;
  const wanted = listed ?? AUTO_ORDER;
  const out: SelectedSources = { sources: [], docker: null, described: [] };
  // Not found: quiet under auto, one warning when configured (Docker: when docker.enabled).
  const missing = (runtime: RuntimeName, why: string) => {
    if (listed !== null || runtime === 'docker') logger.warnOnce(`no-${runtime}`, why);
  };
  for (const runtime of wanted) {
    switch (runtime) {
      case 'docker': {
        if (!cfg.docker.enabled) break;
        const docker = new DockerMetadataSource(cfg.docker.socket, logger);
        if (await probes.answers(docker)) {
          out.sources.push(docker);
          out.docker = docker;
          out.described.push(`docker (${cfg.docker.socket})`);
        } else {
          missing('docker', `no Docker daemon at ${cfg.docker.socket}: Docker containers are identified by cgroup-derived ids only (no name, image or labels)`);
        }
        break;
      }
      case 'podman': {
        const socket = cfg.metadata.podman.socket;
        const podman = new DockerMetadataSource(socket, logger, { runtime: 'podman' });
        if (await probes.answers(podman)) {
          out.sources.push(podman);
          out.described.push(`podman (${socket})`);
        } else {
          missing('podman', `metadata source podman: no Podman API at ${socket} (start it with: podman system service --time=0 unix://${socket}): not used`);
        }
        break;
      }
      case 'containerd': {
        const dir = cfg.metadata.containerd.state_dir;
        if (probes.isDirectory(dir)) {
          out.sources.push(new ContainerdStateSource(dir, logger));
          out.described.push(`containerd (${dir})`);
        } else {
          missing('containerd', `metadata source containerd: no state directory ${dir}: not used`);
        }
        break;
      }
      case 'cri-o': {
        const dir = cfg.metadata.crio.state_dir;
        if (probes.isDirectory(dir)) {
          out.sources.push(new CrioStateSource(dir, logger));
          out.described.push(`cri-o (${dir})`);
        } else {
          missing('cri-o', `metadata source cri-o: no state directory ${dir}: not used`);
        }
        break;
      }
    }
  }
  return out;
}
