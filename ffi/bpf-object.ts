// SPDX-License-Identifier: Apache-2.0
/** One compiled eBPF object: open, configure before load, load, attach, close. */
import { closeSync, openSync, readSync } from 'node:fs';
import koffi from 'koffi';
import { BTF_KIND_DATASEC, bpf_object_open_opts, btf_type, libbpf } from './libbpf.js';
import { BpfError } from './errors.js';
import { takeFailedProgram } from './print.js';

type Ptr = unknown;

export interface CgroupLink {
  detach(): void;
}

/** Hooks attachAll() attaches: not iterators, cgroup programs or TC classifiers (attached per target). */
export function isGlobalHook(section: string): boolean {
  return !/^(iter|cgroup|cgroup_skb|sockops|sk_skb|sk_msg|tc|tcx|classifier|xdp)(\/|$)/.test(section);
}

export interface AttachedProgram {
  name: string;
  section: string;
}

export class BpfObject {
  private links: Ptr[] = [];
  private readonly cgroupLinks = new Set<Ptr>();
  private closed = false;
  private loaded = false;

  private constructor(
    private readonly obj: Ptr,
    readonly path: string,
  ) {}

  /** The kernel BTF CO-RE relocates against (btf_path); null: libbpf's default, /sys/kernel/btf/vmlinux. */
  private static btfPath: string | null = null;

  /** Sets the BTF file every object opened from now on relocates against (null: the kernel's). */
  static useBtf(path: string | null): void {
    BpfObject.btfPath = path;
  }

  static open(path: string): BpfObject {
    const opts = BpfObject.btfPath
      ? { sz: koffi.sizeof(bpf_object_open_opts), object_name: null, relaxed_maps: false, pin_root_path: null, unused_attach_prog_fd: 0, kconfig: null, btf_custom_path: BpfObject.btfPath }
      : null;
    const obj = libbpf.bpf_object__open_file(path, opts);
    if (!obj) throw new BpfError(`open ${path}`, koffi.errno());
    return new BpfObject(obj, path);
  }

  /** Programs in the object, with their section (the hook): `tracepoint/sched/sched_process_exec`. */
  programs(): AttachedProgram[] {
    const out: AttachedProgram[] = [];
    for (let p = libbpf.bpf_object__next_program(this.obj, null); p; p = libbpf.bpf_object__next_program(this.obj, p)) {
      out.push({ name: libbpf.bpf_program__name(p), section: libbpf.bpf_program__section_name(p) });
    }
    return out;
  }

  /** Keeps a program out of load and attach (before load), e.g. an optional hook this kernel lacks. */
  setAutoload(programName: string, enabled: boolean): void {
    const p = this.program(programName);
    const rc = libbpf.bpf_program__set_autoload(p, enabled);
    if (rc < 0) throw new BpfError(`set autoload ${programName}`, -rc);
  }

  /** Loads a program but leaves it out of attachAll() (before load): a tail-call target, say. */
  setAutoattach(programName: string, enabled: boolean): void {
    this.assertNotLoaded(`set autoattach ${programName}`);
    libbpf.bpf_program__set_autoattach(this.program(programName), enabled);
  }

  /** The file descriptor of a loaded program (for a program array). */
  programFd(programName: string): number {
    const fd = libbpf.bpf_program__fd(this.program(programName)) as number;
    if (fd < 0) throw new BpfError(`program fd ${programName}`, -fd);
    return fd;
  }

  /** Sets `const volatile` globals in .rodata by name (before load). */
  setRodata(values: Record<string, number | bigint>): void {
    this.assertNotLoaded('set .rodata');
    const map = this.findMap((name) => name.endsWith('.rodata'));
    if (!map) throw new Error(`${this.path}: no .rodata section to configure`);
    const sizeOut = [0];
    const data = libbpf.bpf_map__initial_value(map, sizeOut);
    if (!data) throw new BpfError(`${this.path}: read .rodata`, koffi.errno());
    const vars = this.datasecVariables('.rodata');
    for (const [name, value] of Object.entries(values)) {
      const v = vars.get(name);
      if (!v) throw new Error(`${this.path}: no .rodata variable ${name}`);
      if (v.offset + v.size > sizeOut[0]) throw new Error(`${this.path}: .rodata variable ${name} out of bounds`);
      if (v.size === 4) koffi.encode(data, v.offset, 'uint32', Number(value));
      else if (v.size === 8) koffi.encode(data, v.offset, 'uint64', BigInt(value));
      else throw new Error(`${this.path}: .rodata variable ${name} has unsupported size ${v.size}`);
    }
  }

  /** Names of the object's maps (before or after load). */
  mapNames(): string[] {
    const out: string[] = [];
    for (let m = libbpf.bpf_object__next_map(this.obj, null); m; m = libbpf.bpf_object__next_map(this.obj, m)) {
      out.push(libbpf.bpf_map__name(m) as string);
    }
    return out;
  }

  /** Makes a map of this object use another object's map (before load): one map, shared. */
  reuseMap(mapName: string, fd: number): void {
    this.assertNotLoaded(`reuse map ${mapName}`);
    const rc = libbpf.bpf_map__reuse_fd(this.map(mapName), fd);
    if (rc < 0) throw new BpfError(`reuse map ${mapName}`, -rc);
  }

  resizeMap(mapName: string, maxEntries: number): void {
    this.assertNotLoaded(`resize map ${mapName}`);
    const rc = libbpf.bpf_map__set_max_entries(this.map(mapName), maxEntries);
    if (rc < 0) throw new BpfError(`resize map ${mapName} to ${maxEntries}`, -rc);
  }

  load(): void {
    takeFailedProgram();
    const rc = libbpf.bpf_object__load(this.obj);
    if (rc < 0) {
      const failed = takeFailedProgram();
      const section = failed ? this.programs().find((p) => p.name === failed)?.section : undefined;
      throw new BpfError(failed ? `load ${section ?? '?'} (program ${failed})` : `load ${this.path}`, -rc);
    }
    this.loaded = true;
  }

  /**
   * Attaches every autoloaded program whose hook is global (tracepoints and the like); the
   * error names the program and its hook. Iterators run on demand (runIterator) and cgroup
   * programs attach per cgroup (attachCgroup).
   */
  attachAll(): AttachedProgram[] {
    const attached: AttachedProgram[] = [];
    for (let p = libbpf.bpf_object__next_program(this.obj, null); p; p = libbpf.bpf_object__next_program(this.obj, p)) {
      if (!libbpf.bpf_program__autoload(p) || !libbpf.bpf_program__autoattach(p)) continue;
      const name = libbpf.bpf_program__name(p) as string;
      const section = libbpf.bpf_program__section_name(p) as string;
      if (!isGlobalHook(section)) continue;
      const link = libbpf.bpf_program__attach(p);
      if (!link) throw new BpfError(`attach ${section} (program ${name})`, koffi.errno());
      this.links.push(link);
      attached.push({ name, section });
    }
    return attached;
  }

  /**
   * Attaches a cgroup program (cgroup_skb/, cgroup/sock_create, cgroup/connect4...) to one
   * cgroup directory; returns the link, to be destroyed with detach() when the cgroup goes.
   */
  attachCgroup(programName: string, cgroupDir: string): CgroupLink {
    const p = this.program(programName);
    const section = libbpf.bpf_program__section_name(p) as string;
    let fd: number;
    try {
      fd = openSync(cgroupDir, 'r');
    } catch (err) {
      throw new BpfError(`attach ${section} (program ${programName}) to ${cgroupDir}`, (err as NodeJS.ErrnoException).errno ? -((err as NodeJS.ErrnoException).errno as number) : 2);
    }
    try {
      const link = libbpf.bpf_program__attach_cgroup(p, fd);
      if (!link) throw new BpfError(`attach ${section} (program ${programName}) to ${cgroupDir}`, koffi.errno());
      this.cgroupLinks.add(link);
      return {
        detach: () => {
          if (!this.cgroupLinks.delete(link)) return;
          libbpf.bpf_link__destroy(link);
        },
      };
    } finally {
      closeSync(fd);
    }
  }

  /** Runs a BPF iterator program once over everything it iterates (after load). */
  runIterator(programName: string): void {
    const link = libbpf.bpf_program__attach(this.program(programName));
    if (!link) throw new BpfError(`attach iterator ${programName}`, koffi.errno());
    this.drainIterator(programName, link);
  }

  private drainIterator(programName: string, link: Ptr): void {
    try {
      const fd = libbpf.bpf_iter_create(libbpf.bpf_link__fd(link));
      if (fd < 0) throw new BpfError(`create iterator ${programName}`, -fd);
      try {
        const buf = Buffer.alloc(4096);
        while (readSync(fd, buf, 0, buf.length, null) > 0) {
          // the program writes nothing; reading drives the iteration to its end
        }
      } finally {
        closeSync(fd);
      }
    } finally {
      libbpf.bpf_link__destroy(link);
    }
  }

  mapFd(mapName: string): number {
    const fd = libbpf.bpf_map__fd(this.map(mapName));
    if (fd < 0) throw new BpfError(`map ${mapName} fd`, -fd);
    return fd;
  }

  /** Detaches every program and frees the object; safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links) libbpf.bpf_link__destroy(link);
    for (const link of this.cgroupLinks) libbpf.bpf_link__destroy(link);
    this.links = [];
    this.cgroupLinks.clear();
    libbpf.bpf_object__close(this.obj);
  }

  private program(name: string): Ptr {
    const p = libbpf.bpf_object__find_program_by_name(this.obj, name);
    if (!p) throw new Error(`${this.path}: no program ${name}`);
    return p;
  }

  private map(name: string): Ptr {
    const m = libbpf.bpf_object__find_map_by_name(this.obj, name);
    if (!m) throw new Error(`${this.path}: no map ${name}`);
    return m;
  }

  private findMap(match: (name: string) => boolean): Ptr | null {
    for (let m = libbpf.bpf_object__next_map(this.obj, null); m; m = libbpf.bpf_object__next_map(this.obj, m)) {
      if (match(libbpf.bpf_map__name(m) as string)) return m;
    }
    return null;
  }

  /** Offsets of a data section's variables, read from the object's BTF. */
  private datasecVariables(section: string): Map<string, { offset: number; size: number }> {
    const btf = libbpf.bpf_object__btf(this.obj);
    if (!btf) throw new Error(`${this.path}: no BTF`);
    const id = libbpf.btf__find_by_name_kind(btf, section, BTF_KIND_DATASEC);
    if (id < 0) throw new Error(`${this.path}: no ${section} in BTF`);
    const sec = libbpf.btf__type_by_id(btf, id);
    const head = koffi.decode(sec, btf_type) as { info: number };
    const vlen = head.info & 0xffff;
    const vars = new Map<string, { offset: number; size: number }>();
    for (let i = 0; i < vlen; i++) {
      const base = 12 + i * 12; // struct btf_var_secinfo { type, offset, size } after the head
      const typeId = koffi.decode(sec, base, 'uint32') as number;
      const offset = koffi.decode(sec, base + 4, 'uint32') as number;
      const size = koffi.decode(sec, base + 8, 'uint32') as number;
      const varType = koffi.decode(libbpf.btf__type_by_id(btf, typeId), btf_type) as { name_off: number };
      vars.set(libbpf.btf__name_by_offset(btf, varType.name_off) as string, { offset, size });
    }
    return vars;
  }

  private assertNotLoaded(what: string): void {
    if (this.loaded) throw new Error(`${this.path}: cannot ${what} after load`);
  }
}
