// SPDX-License-Identifier: Apache-2.0
/**
 * Mount tables for the file-open sensor's host paths. The mountinfo texts are real: taken from
 * /proc/<pid>/mountinfo of Docker containers and /proc/1/mountinfo on a Debian 12 host
 * (kernel 6.18, Docker, ext4 root on /dev/vda = 254:0) with
 *   mount --bind /tmp/cgmi/data/shared /tmp/cgmi/srv-shared     (host-side bind, mount 64)
 *   docker run -v /tmp/cgmi/shared:/mnt/data -v "/tmp/cgmi/shared/sub dir:/mnt/sp ace"
 *     -v /tmp/cgmi/shared/nested:/nested:ro -v cgmi-vol:/vol --tmpfs /scratch busybox  (C1)
 *   docker run -v /tmp/cgmi/srv-shared/sub:/work -v /tmp/cgmi/single.conf:/etc/app.conf:ro busybox
 *     then single.conf replaced on the host (its mount shows //deleted)              (C2)
 *   mount -t tmpfs cgmi-shadow /tmp/cgmi/shared                  (HOST_SHADOWED, mount 78)
 * The resolver's file reads and clock are stand-ins (injected), except in the last block,
 * which reads this process's own /proc.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RUNTIME_ROOTS,
  MountResolver,
  hostPathOf,
  isRuntimeManagedFile,
  parseMountinfo,
  parseMountinfoLine,
  unescapeMountinfo,
  type MountInfoEntry,
  type MountResolverOptions,
} from '../../src/sensors/file_open/mounts.js';

const C1_ID = '705edb082d197969902f45e1364d5a7d93c712718fbea0c6ae4852f0ae3f95d1';
const C2_ID = 'd077a2039f3b826a1781e3b114e5bc7b975b7ff3576da51b8f015ec06fcabb93';

/** C1: /proc/<pid>/mountinfo, complete. */
const C1 = String.raw`
118 65 0:51 / / rw,relatime master:3 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/QDKGGTPEJC57Q3ACRGXLEU2UBB:/var/lib/docker/overlay2/l/FE5NMF56AKULRPNUOVP7KWG3OZ,upperdir=/var/lib/docker/overlay2/0d844971a8e744dad144d90dd46a29309dd33517ddaaeec34f45fd743ee981d8/diff,workdir=/var/lib/docker/overlay2/0d844971a8e744dad144d90dd46a29309dd33517ddaaeec34f45fd743ee981d8/work
119 118 0:54 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
120 118 0:55 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
121 120 0:56 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666
122 118 0:57 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
123 122 0:58 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
124 123 0:29 /docker/705edb082d197969902f45e1364d5a7d93c712718fbea0c6ae4852f0ae3f95d1 /sys/fs/cgroup/cpu ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu
125 123 0:30 /docker/705edb082d197969902f45e1364d5a7d93c712718fbea0c6ae4852f0ae3f95d1 /sys/fs/cgroup/cpuacct ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpuacct
126 123 0:31 /docker/705edb082d197969902f45e1364d5a7d93c712718fbea0c6ae4852f0ae3f95d1 /sys/fs/cgroup/cpuset ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpuset
127 123 0:32 /docker/705edb082d197969902f45e1364d5a7d93c712718fbea0c6ae4852f0ae3f95d1 /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
128 123 0:33 /docker/705edb082d197969902f45e1364d5a7d93c712718fbea0c6ae4852f0ae3f95d1 /sys/fs/cgroup/devices ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,devices
129 123 0:34 /docker/705edb082d197969902f45e1364d5a7d93c712718fbea0c6ae4852f0ae3f95d1 /sys/fs/cgroup/freezer ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,freezer
130 123 0:35 /docker/705edb082d197969902f45e1364d5a7d93c712718fbea0c6ae4852f0ae3f95d1 /sys/fs/cgroup/blkio ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,blkio
131 123 0:36 /docker/705edb082d197969902f45e1364d5a7d93c712718fbea0c6ae4852f0ae3f95d1 /sys/fs/cgroup/pids ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids
132 123 0:37 /docker/705edb082d197969902f45e1364d5a7d93c712718fbea0c6ae4852f0ae3f95d1 /sys/fs/cgroup/systemd ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,name=systemd
133 120 0:53 / /dev/mqueue rw,nosuid,nodev,noexec,relatime - mqueue mqueue rw
134 120 0:59 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k
135 118 254:0 /tmp/cgmi/shared/nested /nested ro,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
136 118 254:0 /var/lib/docker/volumes/cgmi-vol/_data /vol rw,relatime master:1 - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
137 118 0:60 / /scratch rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw
138 118 254:0 /tmp/cgmi/shared /mnt/data rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
139 118 254:0 /tmp/cgmi/shared/sub\040dir /mnt/sp\040ace rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
140 118 254:0 /var/lib/docker/containers/705edb082d197969902f45e1364d5a7d93c712718fbea0c6ae4852f0ae3f95d1/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
141 118 254:0 /var/lib/docker/containers/705edb082d197969902f45e1364d5a7d93c712718fbea0c6ae4852f0ae3f95d1/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
142 118 254:0 /var/lib/docker/containers/705edb082d197969902f45e1364d5a7d93c712718fbea0c6ae4852f0ae3f95d1/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
66 119 0:54 /bus /proc/bus ro,nosuid,nodev,noexec,relatime - proc proc rw
67 119 0:54 /fs /proc/fs ro,nosuid,nodev,noexec,relatime - proc proc rw
68 119 0:54 /irq /proc/irq ro,nosuid,nodev,noexec,relatime - proc proc rw
69 119 0:54 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw
70 119 0:61 / /proc/acpi ro,relatime - tmpfs tmpfs ro
71 119 0:55 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
72 119 0:55 /null /proc/timer_list rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
73 122 0:62 / /sys/firmware ro,relatime - tmpfs tmpfs ro
`;

/** C2: the lines of its table this test uses (root, /dev, /work, /etc/app.conf, /etc/hosts). */
const C2 = String.raw`
162 102 0:63 / / rw,relatime master:4 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/T5Q4WE2RKFRJCUJOX4QW25BSNE:/var/lib/docker/overlay2/l/FE5NMF56AKULRPNUOVP7KWG3OZ,upperdir=/var/lib/docker/overlay2/74e41eb7744b18eec2925e520b817f601be29eb97bdb3b78529edc2170e33237/diff,workdir=/var/lib/docker/overlay2/74e41eb7744b18eec2925e520b817f601be29eb97bdb3b78529edc2170e33237/work
164 162 0:67 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
179 162 254:0 /tmp/cgmi/data/shared/sub /work rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
180 162 254:0 /tmp/cgmi/single.conf//deleted /etc/app.conf ro,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
183 162 254:0 /var/lib/docker/containers/d077a2039f3b826a1781e3b114e5bc7b975b7ff3576da51b8f015ec06fcabb93/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
`;

/** The host: /proc/1/mountinfo while C1 and C2 ran (one unrelated line left out). */
const HOST = String.raw`
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334432k,nr_inodes=3083608,mode=755
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24683656k
26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
29 26 0:26 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
30 25 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24683656k
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 23 0:13 / /sys/kernel/tracing rw,relatime - tracefs tracefs rw
43 23 0:8 / /sys/kernel/debug rw,relatime - debugfs debugfs rw
44 23 0:39 / /sys/fs/bpf rw,relatime - bpf bpf rw
45 27 254:0 /var/lib/docker /var/lib/docker rw,relatime shared:1 - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
46 43 0:13 / /sys/kernel/debug/tracing rw,relatime - tracefs tracefs rw
63 45 0:51 / /var/lib/docker/overlay2/0d844971a8e744dad144d90dd46a29309dd33517ddaaeec34f45fd743ee981d8/merged rw,relatime shared:3 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/QDKGGTPEJC57Q3ACRGXLEU2UBB:/var/lib/docker/overlay2/l/FE5NMF56AKULRPNUOVP7KWG3OZ,upperdir=/var/lib/docker/overlay2/0d844971a8e744dad144d90dd46a29309dd33517ddaaeec34f45fd743ee981d8/diff,workdir=/var/lib/docker/overlay2/0d844971a8e744dad144d90dd46a29309dd33517ddaaeec34f45fd743ee981d8/work
143 27 0:4 net:[4026532259] /run/docker/netns/5d270f0a9912 rw - nsfs nsfs rw
64 27 254:0 /tmp/cgmi/data/shared /tmp/cgmi/srv-shared rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
77 45 0:63 / /var/lib/docker/overlay2/74e41eb7744b18eec2925e520b817f601be29eb97bdb3b78529edc2170e33237/merged rw,relatime shared:4 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/T5Q4WE2RKFRJCUJOX4QW25BSNE:/var/lib/docker/overlay2/l/FE5NMF56AKULRPNUOVP7KWG3OZ,upperdir=/var/lib/docker/overlay2/74e41eb7744b18eec2925e520b817f601be29eb97bdb3b78529edc2170e33237/diff,workdir=/var/lib/docker/overlay2/74e41eb7744b18eec2925e520b817f601be29eb97bdb3b78529edc2170e33237/work
184 27 0:4 net:[4026532334] /run/docker/netns/8675c90c5a97 rw - nsfs nsfs rw
`;

/** The host after "mount -t tmpfs cgmi-shadow /tmp/cgmi/shared": C1's /mnt/data is hidden there. */
const HOST_SHADOWED = HOST + '78 27 0:74 / /tmp/cgmi/shared rw,relatime - tmpfs cgmi-shadow rw\n';

const c1 = parseMountinfo(C1);
const c2 = parseMountinfo(C2);
const host = parseMountinfo(HOST);
const hostShadowed = parseMountinfo(HOST_SHADOWED);

function mount(entries: MountInfoEntry[], mountPoint: string): MountInfoEntry {
  const found = entries.filter((e) => e.mountPoint === mountPoint);
  expect(found, mountPoint).toHaveLength(1);
  return found[0]!;
}

describe('parseMountinfo', () => {
  it('parses every line of real container and host tables', () => {
    expect(c1).toHaveLength(C1.trim().split('\n').length);
    expect(host).toHaveLength(HOST.trim().split('\n').length);
    expect(mount(c1, '/mnt/data')).toEqual({
      mountId: 138,
      parentId: 118,
      major: 254,
      minor: 0,
      root: '/tmp/cgmi/shared',
      rootDeleted: false,
      mountPoint: '/mnt/data',
      mountOptions: 'rw,relatime',
      optionalFields: [],
      fsType: 'ext4',
      source: '/dev/vda',
      superOptions: 'rw,discard,resv_strict,resuid=65534,resgid=65534',
    });
  });

  it('keeps optional fields before the separator', () => {
    expect(mount(c1, '/').optionalFields).toEqual(['master:3']);
    expect(mount(c1, '/vol').optionalFields).toEqual(['master:1']);
    expect(mount(host, '/var/lib/docker')).toMatchObject({ mountId: 45, root: '/var/lib/docker', optionalFields: ['shared:1'] });
    const many = parseMountinfoLine('40 30 0:5 / /a rw shared:2 master:1 propagate_from:1 unbindable - tmpfs none rw');
    expect(many?.optionalFields).toEqual(['shared:2', 'master:1', 'propagate_from:1', 'unbindable']);
    expect(many?.fsType).toBe('tmpfs');
  });

  it('decodes octal escapes in root, mount point, type and source', () => {
    expect(mount(c1, '/mnt/sp ace').root).toBe('/tmp/cgmi/shared/sub dir');
    const e = parseMountinfoLine(String.raw`50 27 8:1 /a\011b\012c\134d /m\040n rw - fuse.my\040fs src\040x rw,opt=\054`);
    expect(e).toMatchObject({ root: '/a\tb\nc\\d', mountPoint: '/m n', fsType: 'fuse.my fs', source: 'src x', superOptions: String.raw`rw,opt=\054` });
    expect(unescapeMountinfo(String.raw`a\134040b`)).toBe(String.raw`a\040b`); // decoded once, not twice
    expect(unescapeMountinfo(String.raw`a\9b\777\04`)).toBe(String.raw`a\9b\777\04`);
  });

  it('reads pseudo roots and the //deleted marker', () => {
    expect(host.find((e) => e.fsType === 'nsfs')?.root).toMatch(/^net:\[\d+\]$/);
    expect(mount(c2, '/etc/app.conf')).toMatchObject({ root: '/tmp/cgmi/single.conf', rootDeleted: true });
  });

  it('accepts an empty mount source', () => {
    expect(parseMountinfoLine('60 27 0:80 / /e rw -  tmpfs  rw')).toBeUndefined(); // type missing
    expect(parseMountinfoLine('60 27 0:80 / /e rw - tmpfs  rw')).toMatchObject({ fsType: 'tmpfs', source: '', superOptions: 'rw' });
  });

  it('skips malformed lines and never throws', () => {
    const good = '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw';
    const bad = [
      '',
      '   ',
      '27 1 254:0 / / rw,relatime - ext4', // truncated after the separator
      '27 1 254:0 / / rw,relatime ext4 /dev/vda rw', // no separator
      '27 1 254:0 / / - ext4 /dev/vda rw extra', // separator where the options belong
      'x 1 254:0 / / rw - ext4 /dev/vda rw',
      '27 -1 254:0 / / rw - ext4 /dev/vda rw',
      '27 1 254 / / rw - ext4 /dev/vda rw',
      '27 1 254:0x / / rw - ext4 /dev/vda rw',
      '99999999999 1 254:0 / / rw - ext4 /dev/vda rw',
      '27 1 4294967296:0 / / rw - ext4 /dev/vda rw',
      '27 1 254:0 / relative rw - ext4 /dev/vda rw',
      '27 1 254:0 / / rw -  /dev/vda rw',
      '27\t1\t254:0\t/\t/\trw\t-\text4\t/dev/vda\trw',
      '\u0000\u0001\uffff garbage \\\\\\ - - - - - - - - -',
      '1 2 3:4 / / - - - - - - - - -', // the first '-' from field 7 on is the separator
      C1.slice(0, 40), // a read cut mid-line
    ];
    for (const line of bad) expect(() => parseMountinfoLine(line)).not.toThrow();
    const parsed = parseMountinfo([good, ...bad, good.replace('27 1', '28 27')].join('\n'));
    expect(parsed.map((e) => e.mountId)).toEqual([27, 28]);
    expect(parseMountinfo('1 2 3:4 / / - - - - - - - - -')).toHaveLength(0);

    // Random bytes and mangled real lines.
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const alphabet = ' -:/\\0123456789abcdef\n\t';
    for (let i = 0; i < 300; i++) {
      let s = '';
      const len = rand(200);
      for (let j = 0; j < len; j++) s += alphabet[rand(alphabet.length)];
      expect(() => parseMountinfo(s)).not.toThrow();
      const cut = C1.slice(rand(C1.length), rand(C1.length) + 400);
      for (const e of parseMountinfo(cut)) {
        expect(Number.isInteger(e.mountId)).toBe(true);
        expect(e.mountPoint.startsWith('/')).toBe(true);
      }
    }
    expect(parseMountinfo(undefined as unknown as string)).toEqual([]);
    expect(parseMountinfo(C1, 3)).toHaveLength(3);
  });
});

describe('hostPathOf', () => {
  it('maps a directory bind mount', () => {
    const m = mount(c1, '/mnt/data');
    expect(hostPathOf(m, '/mnt/data/x', host)).toBe('/tmp/cgmi/shared/x');
    expect(hostPathOf(m, '/mnt/data/a/b/c.txt', host)).toBe('/tmp/cgmi/shared/a/b/c.txt');
    expect(hostPathOf(m, '/mnt/data', host)).toBe('/tmp/cgmi/shared');
    expect(hostPathOf(mount(c1, '/nested'), '/nested/f', host)).toBe('/tmp/cgmi/shared/nested/f');
  });

  it('tolerates trailing and doubled slashes', () => {
    const m = mount(c1, '/mnt/data');
    expect(hostPathOf(m, '/mnt/data/', host)).toBe('/tmp/cgmi/shared');
    expect(hostPathOf(m, '//mnt//data///x', host)).toBe('/tmp/cgmi/shared/x');
    expect(hostPathOf({ ...m, mountPoint: '/mnt/data/', root: '/tmp/cgmi/shared/' }, '/mnt/data/x', host)).toBe('/tmp/cgmi/shared/x');
  });

  it('maps a named volume through the host mount with the longest root', () => {
    // Both "/" (root /) and "/var/lib/docker" (root /var/lib/docker) contain the volume.
    expect(hostPathOf(mount(c1, '/vol'), '/vol/db/data.sqlite', host)).toBe('/var/lib/docker/volumes/cgmi-vol/_data/db/data.sqlite');
  });

  it('maps a single-file bind mount: the mount point is the file', () => {
    expect(hostPathOf(mount(c1, '/etc/hosts'), '/etc/hosts', host)).toBe(`/var/lib/docker/containers/${C1_ID}/hosts`);
    expect(hostPathOf(mount(c1, '/etc/resolv.conf'), '/etc/resolv.conf', host)).toBe(`/var/lib/docker/containers/${C1_ID}/resolv.conf`);
    expect(hostPathOf(mount(c2, '/etc/hosts'), '/etc/hosts', host)).toBe(`/var/lib/docker/containers/${C2_ID}/hosts`);
  });

  it('gives null for a single file whose host file was replaced (//deleted)', () => {
    expect(hostPathOf(mount(c2, '/etc/app.conf'), '/etc/app.conf', host)).toBeNull();
    const before = parseMountinfoLine(C2.trim().split('\n')[3]!.replace('//deleted', ''))!;
    expect(hostPathOf(before, '/etc/app.conf', host)).toBe('/tmp/cgmi/single.conf');
  });

  it('picks the longest host prefix for a subdirectory of a bind-mounted host directory', () => {
    // C2 bound /tmp/cgmi/srv-shared/sub, itself a host bind of /tmp/cgmi/data/shared: the kernel
    // shows the real path (/tmp/cgmi/data/shared/sub); host mount 64 gives the path the user used.
    const work = mount(c2, '/work');
    expect(work.root).toBe('/tmp/cgmi/data/shared/sub');
    expect(hostPathOf(work, '/work/y', host)).toBe('/tmp/cgmi/srv-shared/sub/y');
    const withoutBind = host.filter((e) => e.mountId !== 64);
    expect(hostPathOf(work, '/work/y', withoutBind)).toBe('/tmp/cgmi/data/shared/sub/y');
  });

  it('decodes paths with spaces', () => {
    expect(hostPathOf(mount(c1, '/mnt/sp ace'), '/mnt/sp ace/a b.txt', host)).toBe('/tmp/cgmi/shared/sub dir/a b.txt');
  });

  it('gives null for file systems the host does not mount: tmpfs, proc', () => {
    expect(hostPathOf(mount(c1, '/scratch'), '/scratch/f', host)).toBeNull();
    expect(hostPathOf(mount(c1, '/dev'), '/dev/null', host)).toBeNull();
    expect(hostPathOf(mount(c1, '/dev/shm'), '/dev/shm/x', host)).toBeNull();
    expect(hostPathOf(mount(c1, '/proc'), '/proc/1/status', host)).toBeNull();
    expect(hostPathOf(mount(c1, '/proc/keys'), '/proc/keys', host)).toBeNull();
  });

  it('gives null for the container root overlay although the host mounts it at .../merged', () => {
    const root = mount(c1, '/');
    expect(host.some((e) => e.major === root.major && e.minor === root.minor && e.mountPoint.endsWith('/merged'))).toBe(true);
    expect(hostPathOf(root, '/etc/passwd', host)).toBeNull();
    expect(hostPathOf(mount(c2, '/'), '/bin/sh', host)).toBeNull();
  });

  it('maps a root file system that is a plain bind of a host directory', () => {
    const rootBind = parseMountinfoLine('300 290 254:0 /srv/rootfs / rw,relatime - ext4 /dev/vda rw')!;
    expect(hostPathOf(rootBind, '/etc/passwd', host)).toBe('/srv/rootfs/etc/passwd');
    expect(hostPathOf(rootBind, '/', host)).toBe('/srv/rootfs');
  });

  it('gives null when a later host mount hides the path', () => {
    expect(hostPathOf(mount(c1, '/mnt/data'), '/mnt/data/x', hostShadowed)).toBeNull();
    // Not hidden: the volume, and C2's path through host mount 64.
    expect(hostPathOf(mount(c1, '/vol'), '/vol/f', hostShadowed)).toBe('/var/lib/docker/volumes/cgmi-vol/_data/f');
    expect(hostPathOf(mount(c2, '/work'), '/work/y', hostShadowed)).toBe('/tmp/cgmi/srv-shared/sub/y');
  });

  it('falls back to a shorter host prefix when the longest one is covered', () => {
    // A tmpfs stacked on host mount 64 at /tmp/cgmi/srv-shared hides that view only.
    const covered = parseMountinfo(HOST + '79 64 0:75 / /tmp/cgmi/srv-shared rw - tmpfs none rw\n');
    expect(hostPathOf(mount(c2, '/work'), '/work/y', covered)).toBe('/tmp/cgmi/data/shared/sub/y');
    // A mount over /tmp/cgmi (parent "/") hides both views of the data directory.
    const both = parseMountinfo(HOST + '80 27 0:76 / /tmp/cgmi rw - tmpfs none rw\n');
    expect(hostPathOf(mount(c2, '/work'), '/work/y', both)).toBeNull();
  });

  it('refuses paths outside the mount point or with . and .. components', () => {
    const m = mount(c1, '/mnt/data');
    expect(hostPathOf(m, '/mnt/database/x', host)).toBeNull();
    expect(hostPathOf(m, '/etc/passwd', host)).toBeNull();
    expect(hostPathOf(m, 'mnt/data/x', host)).toBeNull();
    expect(hostPathOf(m, '/mnt/data/../../etc/shadow', host)).toBeNull();
    expect(hostPathOf(m, '/mnt/data/./x', host)).toBeNull();
    expect(hostPathOf(m, '/mnt/data/x\0y', host)).toBeNull();
    expect(hostPathOf(m, '', host)).toBeNull();
  });

  it('gives null when the host table is empty or has no root', () => {
    expect(hostPathOf(mount(c1, '/mnt/data'), '/mnt/data/x', [])).toBeNull();
    // No "/" mount (a chrooted reader): the longest prefix is taken unverified.
    const noRoot = host.filter((e) => e.mountPoint !== '/');
    expect(hostPathOf(mount(c1, '/vol'), '/vol/f', noRoot)).toBe('/var/lib/docker/volumes/cgmi-vol/_data/f');
  });
});

describe('isRuntimeManagedFile', () => {
  const id = 'ab'.repeat(32);

  it('recognises the files runtimes bind-mount into every container', () => {
    for (const f of ['hosts', 'hostname', 'resolv.conf']) {
      expect(isRuntimeManagedFile(`/var/lib/docker/containers/${id}/${f}`)).toBe(true);
      expect(isRuntimeManagedFile(`/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/${id}/${f}`)).toBe(true);
      expect(isRuntimeManagedFile(`/var/run/containers/storage/overlay-containers/${id}/userdata/${f}`)).toBe(true);
      expect(isRuntimeManagedFile(`/run/containers/storage/overlay-containers/${id}/userdata/${f}`)).toBe(true);
    }
    expect(isRuntimeManagedFile(`/run/containers/storage/overlay-containers/${id}/userdata/.containerenv`)).toBe(true);
    expect(isRuntimeManagedFile('/var/lib/kubelet/pods/0f5b1c2a-3d4e-4f60-8a9b-0c1d2e3f4a5b/etc-hosts')).toBe(true);
    expect(isRuntimeManagedFile('/var/lib/kubelet/pods/0f5b1c2a-3d4e-4f60-8a9b-0c1d2e3f4a5b/containers/app/5f3c2a1b')).toBe(true);
    // Real: what C1's and C2's own /etc/hosts resolve to.
    expect(isRuntimeManagedFile(hostPathOf(mount(c1, '/etc/hosts'), '/etc/hosts', host)!)).toBe(true);
    expect(isRuntimeManagedFile(hostPathOf(mount(c1, '/etc/hostname'), '/etc/hostname', host)!)).toBe(true);
  });

  it('leaves user-shared data alone', () => {
    expect(isRuntimeManagedFile('/tmp/cgmi/shared/x')).toBe(false);
    expect(isRuntimeManagedFile('/var/lib/docker/volumes/cgmi-vol/_data/hosts')).toBe(false);
    expect(isRuntimeManagedFile(`/var/lib/docker/containers/${id}/config.v2.json`)).toBe(false);
    expect(isRuntimeManagedFile(`/var/lib/docker/containers/${id}/${id}-json.log`)).toBe(false);
    expect(isRuntimeManagedFile(`/var/lib/docker/containers/${id.slice(1)}/hosts`)).toBe(false);
    expect(isRuntimeManagedFile(`/var/lib/docker/containers/${id.toUpperCase()}/hosts`)).toBe(false);
    expect(isRuntimeManagedFile(`/var/lib/docker/containers/${id}/hosts/x`)).toBe(false);
    expect(isRuntimeManagedFile(`/srv/var/lib/docker/containers/${id}/hosts`)).toBe(false);
    expect(isRuntimeManagedFile(`/var/lib/docker/containers/${id}/../../volumes/v/hosts`)).toBe(false);
    expect(isRuntimeManagedFile('/var/lib/kubelet/pods/uid/volumes/kubernetes.io~empty-dir/data/etc-hosts')).toBe(false);
    expect(isRuntimeManagedFile(`/run/containers/storage/overlay-containers/${id}/userdata/secret.txt`)).toBe(false);
    expect(isRuntimeManagedFile(`var/lib/docker/containers/${id}/hosts`)).toBe(false);
    expect(isRuntimeManagedFile('')).toBe(false);
  });

  it('takes other runtime roots (a moved Docker data-root, k3s)', () => {
    const roots = {
      ...DEFAULT_RUNTIME_ROOTS,
      docker: ['/data/docker'],
      containerdCri: ['/var/lib/rancher/k3s/agent/containerd/io.containerd.grpc.v1.cri'],
    };
    expect(isRuntimeManagedFile(`/data/docker/containers/${id}/resolv.conf`, roots)).toBe(true);
    expect(isRuntimeManagedFile(`/var/lib/rancher/k3s/agent/containerd/io.containerd.grpc.v1.cri/sandboxes/${id}/hosts`, roots)).toBe(true);
    expect(isRuntimeManagedFile(`/var/lib/docker/containers/${id}/resolv.conf`, roots)).toBe(false);
  });
});

// -------------------------------------------------------------------------------------------
// MountResolver over injected files and a fake clock

const C1_PID = 29594;
const C1_NS = 4026532255;
const C2_PID = 15159;
const C2_NS = 4026532330;

function enoent(path: string): Error {
  return Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
}

/** A /proc made of a map: pid -> { mountinfo, ns }, plus the host tables; counts reads. */
class FakeProc {
  clock = 0;
  readonly files = new Map<string, string>();
  readonly links = new Map<string, string | Error>();
  readonly reads: string[] = [];
  /** Reads wait until released (to observe concurrent calls). */
  gate: Promise<void> | undefined;

  constructor() {
    this.files.set('/proc/1/mountinfo', HOST);
    this.process(C1_PID, C1_NS, C1);
    this.process(C2_PID, C2_NS, C2);
  }

  process(pid: number, ns: number, text: string): void {
    this.files.set(`/proc/${pid}/mountinfo`, text);
    this.links.set(`/proc/${pid}/ns/mnt`, `mnt:[${ns}]`);
  }

  exit(pid: number): void {
    this.files.delete(`/proc/${pid}/mountinfo`);
    this.links.delete(`/proc/${pid}/ns/mnt`);
  }

  readCount(path: string): number {
    return this.reads.filter((p) => p === path).length;
  }

  options(extra: MountResolverOptions = {}): MountResolverOptions {
    return {
      now: () => this.clock,
      readFile: async (p) => {
        this.reads.push(p);
        if (this.gate) await this.gate;
        const text = this.files.get(p);
        if (text === undefined) throw enoent(p);
        return text;
      },
      readlink: async (p) => {
        const link = this.links.get(p);
        if (link === undefined) throw enoent(p);
        if (link instanceof Error) throw link;
        return link;
      },
      ...extra,
    };
  }
}

describe('MountResolver', () => {
  it('answers lookups from its cache only, after load', async () => {
    const proc = new FakeProc();
    const r = new MountResolver(proc.options());
    expect(r.lookup(C1_PID, C1_NS, 138)).toBeUndefined();
    expect(r.hostSource(C1_PID, C1_NS, 138, '/mnt/data/x')).toBeNull();
    expect(proc.reads).toEqual([]); // no I/O on the event path

    await r.load(C1_PID, C1_NS);
    expect(proc.reads.sort()).toEqual(['/proc/1/mountinfo', `/proc/${C1_PID}/mountinfo`]);
    expect(r.lookup(C1_PID, C1_NS, 138)).toMatchObject({ mountPoint: '/mnt/data', root: '/tmp/cgmi/shared' });
    expect(r.lookup(C1_PID, C1_NS, 999)).toBeUndefined();
    expect(r.lookup(C2_PID, C2_NS, 179)).toBeUndefined(); // another namespace: not loaded
    expect(r.namespaceCount).toBe(1);
    expect(r.hostMounts).toHaveLength(host.length);
  });

  it('reports host sources for binds, volumes and runtime files', async () => {
    const proc = new FakeProc();
    const r = new MountResolver(proc.options());
    await r.load(C1_PID, C1_NS);
    expect(r.hostSource(C1_PID, C1_NS, 138, '/mnt/data/x')).toEqual({
      hostPath: '/tmp/cgmi/shared/x',
      mountSource: '/dev/vda',
      fsType: 'ext4',
      mountPoint: '/mnt/data',
      hostMountPoint: '/',
      readOnly: false,
      runtimeManaged: false,
    });
    expect(r.hostSource(C1_PID, C1_NS, 136, '/vol/f')).toMatchObject({
      hostPath: '/var/lib/docker/volumes/cgmi-vol/_data/f',
      hostMountPoint: '/var/lib/docker',
    });
    expect(r.hostSource(C1_PID, C1_NS, 135, '/nested/n')).toMatchObject({ hostPath: '/tmp/cgmi/shared/nested/n', readOnly: true });
    expect(r.hostSource(C1_PID, C1_NS, 142, '/etc/hosts')).toMatchObject({
      hostPath: `/var/lib/docker/containers/${C1_ID}/hosts`,
      mountPoint: '/etc/hosts',
      runtimeManaged: true,
    });
    expect(r.hostSource(C1_PID, C1_NS, 118, '/etc/passwd')).toBeNull(); // overlay root
    expect(r.hostSource(C1_PID, C1_NS, 138, '/mnt/data/x', { major: 254, minor: 0 })).not.toBeNull();
    expect(r.hostSource(C1_PID, C1_NS, 138, '/mnt/data/x', { major: 0, minor: 51 })).toBeNull(); // stale entry
  });

  it('reads a namespace at most once per refresh interval, sharing concurrent reads', async () => {
    const proc = new FakeProc();
    const r = new MountResolver(proc.options({ refreshIntervalMs: 1000 }));
    const c1Path = `/proc/${C1_PID}/mountinfo`;

    let release!: () => void;
    proc.gate = new Promise((resolve) => (release = resolve));
    const a = r.load(C1_PID, C1_NS);
    const b = r.load(C1_PID, C1_NS);
    expect(b).toBe(a);
    release();
    await Promise.all([a, b]);
    proc.gate = undefined;
    expect(proc.readCount(c1Path)).toBe(1);

    proc.clock = 999;
    await r.load(C1_PID, C1_NS);
    expect(proc.readCount(c1Path)).toBe(1);
    expect(proc.readCount('/proc/1/mountinfo')).toBe(1);

    // A mount made in the container meanwhile shows up after the interval.
    proc.files.set(c1Path, C1 + '200 118 254:0 /srv/new /new rw - ext4 /dev/vda rw\n');
    expect(r.lookup(C1_PID, C1_NS, 200)).toBeUndefined();
    proc.clock = 1000;
    await r.load(C1_PID, C1_NS);
    expect(proc.readCount(c1Path)).toBe(2);
    expect(r.lookup(C1_PID, C1_NS, 200)?.mountPoint).toBe('/new');
    expect(r.hostSource(C1_PID, C1_NS, 200, '/new/a')?.hostPath).toBe('/srv/new/a');

    // Other namespaces have their own budget.
    await r.load(C2_PID, C2_NS);
    expect(proc.readCount(`/proc/${C2_PID}/mountinfo`)).toBe(1);
  });

  it('re-reads the host table on a miss, at most once per interval', async () => {
    const proc = new FakeProc();
    const r = new MountResolver(proc.options({ refreshIntervalMs: 1000, hostMaxAgeMs: 5000 }));
    await r.load(C1_PID, C1_NS);
    expect(proc.readCount('/proc/1/mountinfo')).toBe(1);

    // A tmpfs the container has to itself: a miss the host table cannot fix yet (fresh table).
    expect(r.hostSource(C1_PID, C1_NS, 137, '/scratch/f')).toBeNull();
    await r.refreshHost();
    expect(proc.readCount('/proc/1/mountinfo')).toBe(1);

    // Later the host mounts that tmpfs (as kubelet does for secrets): the stale table misses,
    // re-reads in the background once, and the next event resolves.
    proc.files.set('/proc/1/mountinfo', HOST + '90 27 0:60 / /var/lib/kubelet/pods/p/volumes/s rw - tmpfs tmpfs rw\n');
    proc.clock = 5000;
    expect(r.hostSource(C1_PID, C1_NS, 137, '/scratch/f')).toBeNull();
    expect(r.hostSource(C1_PID, C1_NS, 137, '/scratch/f')).toBeNull();
    await r.refreshHost();
    expect(proc.readCount('/proc/1/mountinfo')).toBe(2);
    expect(r.hostSource(C1_PID, C1_NS, 137, '/scratch/f')?.hostPath).toBe('/var/lib/kubelet/pods/p/volumes/s/f');

    // Misses within the interval read nothing.
    proc.clock = 5500;
    r.hostSource(C1_PID, C1_NS, 120, '/dev/null');
    await r.refreshHost();
    expect(proc.readCount('/proc/1/mountinfo')).toBe(2);
  });

  it('falls back to /proc/self/mountinfo when the host table is unreadable', async () => {
    const proc = new FakeProc();
    proc.files.set('/proc/self/mountinfo', proc.files.get('/proc/1/mountinfo')!);
    proc.files.delete('/proc/1/mountinfo');
    const r = new MountResolver(proc.options());
    await r.load(C1_PID, C1_NS);
    expect(proc.readCount('/proc/self/mountinfo')).toBe(1);
    expect(r.hostSource(C1_PID, C1_NS, 138, '/mnt/data/x')?.hostPath).toBe('/tmp/cgmi/shared/x');
  });

  it('uses procRoot and an explicit host path', async () => {
    const proc = new FakeProc();
    const files = new Map([...proc.files].map(([k, v]) => [k.replace('/proc/', '/host/proc/'), v]));
    files.set('/etc/host-mountinfo', HOST);
    const links = new Map([...proc.links].map(([k, v]) => [k.replace('/proc/', '/host/proc/'), v]));
    const seen: string[] = [];
    const r = new MountResolver({
      procRoot: '/host/proc/',
      hostMountinfoPath: '/etc/host-mountinfo',
      readFile: async (p) => (seen.push(p), files.get(p) ?? Promise.reject(enoent(p))),
      readlink: async (p) => (links.get(p) as string | undefined) ?? Promise.reject(enoent(p)),
    });
    await r.load(C1_PID, C1_NS);
    expect(seen.sort()).toEqual(['/etc/host-mountinfo', `/host/proc/${C1_PID}/mountinfo`]);
    expect(r.hostSource(C1_PID, C1_NS, 138, '/mnt/data/x')?.hostPath).toBe('/tmp/cgmi/shared/x');
  });

  it('resolves without throwing for a pid that is gone, keeping what it had', async () => {
    const proc = new FakeProc();
    const r = new MountResolver(proc.options({ refreshIntervalMs: 0 }));
    await expect(r.load(424242, 4026539999)).resolves.toBeUndefined();
    expect(r.lookup(424242, 4026539999, 1)).toBeUndefined();

    await r.load(C1_PID, C1_NS);
    proc.exit(C1_PID);
    await expect(r.load(C1_PID, C1_NS)).resolves.toBeUndefined();
    expect(r.lookup(C1_PID, C1_NS, 138)?.mountPoint).toBe('/mnt/data'); // late events still resolve

    // Gone between the read and the namespace check: the table cannot be attributed.
    const racy = new FakeProc();
    racy.links.delete(`/proc/${C2_PID}/ns/mnt`);
    const r2 = new MountResolver(racy.options());
    await r2.load(C2_PID, C2_NS);
    expect(r2.lookup(C2_PID, C2_NS, 179)).toBeUndefined();

    // An exiting task's empty table does not wipe the cache.
    proc.process(C1_PID, C1_NS, '');
    await r.load(C1_PID, C1_NS);
    expect(r.lookup(C1_PID, C1_NS, 138)).toBeDefined();
  });

  it('does not cache a table read through a recycled pid', async () => {
    const proc = new FakeProc();
    proc.links.set(`/proc/${C1_PID}/ns/mnt`, 'mnt:[4026531832]'); // the pid now belongs to someone else
    const r = new MountResolver(proc.options());
    await r.load(C1_PID, C1_NS);
    expect(r.lookup(C1_PID, C1_NS, 138)).toBeUndefined();

    // Without permission to read the link, the table is taken as read.
    proc.links.set(`/proc/${C1_PID}/ns/mnt`, Object.assign(new Error('EACCES'), { code: 'EACCES' }));
    const r2 = new MountResolver(proc.options());
    await r2.load(C1_PID, C1_NS);
    expect(r2.lookup(C1_PID, C1_NS, 138)).toBeDefined();
  });

  it('ignores invalid pids and namespaces', async () => {
    const proc = new FakeProc();
    const r = new MountResolver(proc.options());
    for (const [pid, ns] of [[0, C1_NS], [-1, C1_NS], [1.5, C1_NS], [C1_PID, 0], [Number.NaN, C1_NS]] as const) {
      await r.load(pid, ns);
    }
    expect(proc.reads).toEqual([]);
    expect(r.namespaceCount).toBe(0);
  });

  it('keeps at most maxNamespaces, dropping the least recently used; forget drops one', async () => {
    const proc = new FakeProc();
    for (let i = 1; i <= 4; i++) proc.process(1000 + i, 5000 + i, C1);
    const r = new MountResolver(proc.options({ maxNamespaces: 3 }));
    await r.load(1001, 5001);
    await r.load(1002, 5002);
    await r.load(1003, 5003);
    expect(r.lookup(1001, 5001, 138)).toBeDefined(); // 5001 used again: 5002 is now the oldest
    await r.load(1004, 5004);
    expect(r.namespaceCount).toBe(3);
    expect(r.lookup(1002, 5002, 138)).toBeUndefined();
    expect(r.lookup(1001, 5001, 138)).toBeDefined();
    expect(r.lookup(1003, 5003, 138)).toBeDefined();
    expect(r.lookup(1004, 5004, 138)).toBeDefined();

    r.forget(5003);
    expect(r.namespaceCount).toBe(2);
    expect(r.lookup(1003, 5003, 138)).toBeUndefined();
    r.forget(5003);
    r.forget(1);

    // A forgotten namespace loads again at once (no rate limit left behind).
    await r.load(1003, 5003);
    expect(r.lookup(1003, 5003, 138)).toBeDefined();
    expect(proc.readCount('/proc/1003/mountinfo')).toBe(2);
  });

  it('bounds the mounts kept per namespace', async () => {
    const proc = new FakeProc();
    const r = new MountResolver(proc.options({ maxMountsPerNamespace: 2 }));
    await r.load(C1_PID, C1_NS);
    expect(r.lookup(C1_PID, C1_NS, 118)).toBeDefined();
    expect(r.lookup(C1_PID, C1_NS, 119)).toBeDefined();
    expect(r.lookup(C1_PID, C1_NS, 120)).toBeUndefined();
  });

  it('resolve() loads on a miss, then answers from the cache', async () => {
    const proc = new FakeProc();
    const r = new MountResolver(proc.options());
    expect((await r.resolve(C2_PID, C2_NS, 179, '/work/y'))?.hostPath).toBe('/tmp/cgmi/srv-shared/sub/y');
    expect(await r.resolve(C2_PID, C2_NS, 180, '/etc/app.conf')).toBeNull(); // replaced on the host
    expect(proc.readCount(`/proc/${C2_PID}/mountinfo`)).toBe(1);
  });
});

describe('MountResolver on this machine', () => {
  it("reads this process's own table", async () => {
    const link = fs.readlinkSync('/proc/self/ns/mnt');
    const ns = Number(/^mnt:\[(\d+)\]$/.exec(link)![1]);
    const own = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
    const r = new MountResolver({ hostMountinfoPath: '/proc/self/mountinfo' });
    await r.load(process.pid, ns);
    expect(r.namespaceCount).toBe(1);
    for (const e of own.slice(0, 5)) expect(r.lookup(process.pid, ns, e.mountId)).toEqual(e);
    const root = own.find((e) => e.mountPoint === '/' && e.root === '/' && e.fsType !== 'overlay');
    if (root) expect(r.hostSource(process.pid, ns, root.mountId, '/etc/hostname')?.hostPath).toBe('/etc/hostname');
  });

  it('resolves quietly for a pid that does not exist', async () => {
    const r = new MountResolver({ refreshIntervalMs: 0 });
    await expect(r.load(2 ** 22 + 12345, 4026531000)).resolves.toBeUndefined();
    expect(r.lookup(2 ** 22 + 12345, 4026531000, 1)).toBeUndefined();
  });
});
