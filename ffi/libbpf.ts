// SPDX-License-Identifier: Apache-2.0
/**
 * libbpf 1.x prototypes bound with koffi: declarations only, no logic.
 * Pointer-returning calls give NULL and set errno; int-returning calls give -errno.
 */
import koffi from 'koffi';

export const bpf_object = koffi.opaque('bpf_object');
export const bpf_program = koffi.opaque('bpf_program');
export const bpf_map = koffi.opaque('bpf_map');
export const bpf_link = koffi.opaque('bpf_link');
export const ring_buffer = koffi.opaque('ring_buffer');
export const btf = koffi.opaque('btf');

/** `struct btf_type` head: name_off, info (vlen | kind << 24), size/type. */
export const btf_type = koffi.struct('btf_type', { name_off: 'uint32', info: 'uint32', size: 'uint32' });

/**
 * `struct bpf_object_open_opts` up to btf_custom_path (libbpf >= 0.6; `sz` tells libbpf how much
 * of the struct the caller knows, so later libbpf versions accept it as is).
 */
export const bpf_object_open_opts = koffi.struct('bpf_object_open_opts', {
  sz: 'size_t',
  object_name: 'const char *',
  relaxed_maps: 'bool',
  pin_root_path: 'const char *',
  // `__u32 :32`, where attach_prog_fd was (libbpf 1.0 removed it; the offsets stay).
  unused_attach_prog_fd: 'uint32',
  kconfig: 'const char *',
  btf_custom_path: 'const char *',
});

/** libbpf's print callback; va_list is passed by reference on the ABIs we support. */
export const libbpf_print_fn = koffi.proto('int libbpf_print_fn(int level, const char *fmt, void *args)');
/** Ring-buffer sample callback: ctx is the sensor slot, data valid only during the call. */
export const ring_buffer_sample_fn = koffi.proto('int ring_buffer_sample_fn(void *ctx, void *data, size_t size)');

function loadLibbpf(): ReturnType<typeof koffi.load> {
  const names = ['libbpf.so.1', 'libbpf.so'];
  let lastError: unknown;
  for (const name of names) {
    try {
      return koffi.load(name);
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`cannot load libbpf (${names.join(', ')}): ${(lastError as Error).message}`);
}

const lib = loadLibbpf();
const libc = koffi.load('libc.so.6');

export const libbpf = {
  libbpf_major_version: lib.func('uint32 libbpf_major_version(void)'),
  libbpf_minor_version: lib.func('uint32 libbpf_minor_version(void)'),
  libbpf_set_print: lib.func('void *libbpf_set_print(libbpf_print_fn *fn)'),
  libbpf_probe_bpf_map_type: lib.func('int libbpf_probe_bpf_map_type(int map_type, const void *opts)'),
  libbpf_probe_bpf_helper: lib.func('int libbpf_probe_bpf_helper(int prog_type, int helper_id, const void *opts)'),

  bpf_object__open_file: lib.func('bpf_object *bpf_object__open_file(const char *path, const bpf_object_open_opts *opts)'),
  bpf_object__load: lib.func('int bpf_object__load(bpf_object *obj)'),
  bpf_object__close: lib.func('void bpf_object__close(bpf_object *obj)'),
  bpf_object__btf: lib.func('btf *bpf_object__btf(const bpf_object *obj)'),
  bpf_object__next_program: lib.func('bpf_program *bpf_object__next_program(const bpf_object *obj, bpf_program *prog)'),
  bpf_object__find_program_by_name: lib.func('bpf_program *bpf_object__find_program_by_name(const bpf_object *obj, const char *name)'),
  bpf_object__find_map_by_name: lib.func('bpf_map *bpf_object__find_map_by_name(const bpf_object *obj, const char *name)'),
  bpf_object__next_map: lib.func('bpf_map *bpf_object__next_map(const bpf_object *obj, const bpf_map *map)'),

  bpf_program__name: lib.func('const char *bpf_program__name(const bpf_program *prog)'),
  bpf_program__section_name: lib.func('const char *bpf_program__section_name(const bpf_program *prog)'),
  bpf_program__set_autoload: lib.func('int bpf_program__set_autoload(bpf_program *prog, bool autoload)'),
  bpf_program__autoload: lib.func('bool bpf_program__autoload(const bpf_program *prog)'),
  bpf_program__set_autoattach: lib.func('void bpf_program__set_autoattach(bpf_program *prog, bool autoattach)'),
  bpf_program__autoattach: lib.func('bool bpf_program__autoattach(const bpf_program *prog)'),
  bpf_program__fd: lib.func('int bpf_program__fd(const bpf_program *prog)'),
  bpf_program__attach_cgroup: lib.func('bpf_link *bpf_program__attach_cgroup(const bpf_program *prog, int cgroup_fd)'),
  bpf_program__attach: lib.func('bpf_link *bpf_program__attach(const bpf_program *prog)'),
  bpf_link__destroy: lib.func('int bpf_link__destroy(bpf_link *link)'),
  bpf_link__fd: lib.func('int bpf_link__fd(const bpf_link *link)'),
  bpf_iter_create: lib.func('int bpf_iter_create(int link_fd)'),

  bpf_map__name: lib.func('const char *bpf_map__name(const bpf_map *map)'),
  bpf_map__fd: lib.func('int bpf_map__fd(const bpf_map *map)'),
  bpf_map__reuse_fd: lib.func('int bpf_map__reuse_fd(bpf_map *map, int fd)'),
  bpf_map__set_max_entries: lib.func('int bpf_map__set_max_entries(bpf_map *map, uint32 max_entries)'),
  bpf_map__initial_value: lib.func('void *bpf_map__initial_value(bpf_map *map, _Out_ size_t *psize)'),

  bpf_map_lookup_elem: lib.func('int bpf_map_lookup_elem(int fd, const void *key, _Out_ void *value)'),
  bpf_map_update_elem: lib.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64 flags)'),
  bpf_map_delete_elem: lib.func('int bpf_map_delete_elem(int fd, const void *key)'),
  bpf_map_lookup_and_delete_elem: lib.func('int bpf_map_lookup_and_delete_elem(int fd, const void *key, _Out_ void *value)'),

  btf__find_by_name_kind: lib.func('int btf__find_by_name_kind(const btf *btf, const char *name, uint32 kind)'),
  btf__type_by_id: lib.func('const btf_type *btf__type_by_id(const btf *btf, uint32 id)'),
  btf__name_by_offset: lib.func('const char *btf__name_by_offset(const btf *btf, uint32 offset)'),

  ring_buffer__new: lib.func('ring_buffer *ring_buffer__new(int map_fd, ring_buffer_sample_fn *cb, void *ctx, const void *opts)'),
  ring_buffer__add: lib.func('int ring_buffer__add(ring_buffer *rb, int map_fd, ring_buffer_sample_fn *cb, void *ctx)'),
  ring_buffer__consume: lib.func('int ring_buffer__consume(ring_buffer *rb)'),
  ring_buffer__epoll_fd: lib.func('int ring_buffer__epoll_fd(const ring_buffer *rb)'),
  ring_buffer__free: lib.func('void ring_buffer__free(ring_buffer *rb)'),

  bpf_obj_get_info_by_fd: lib.func('int bpf_obj_get_info_by_fd(int bpf_fd, _Inout_ uint8_t *info, _Inout_ uint32 *info_len)'),
};

export const clib = {
  vsnprintf: libc.func('int vsnprintf(_Out_ uint8_t *buf, size_t size, const char *fmt, void *ap)'),
  strerror: libc.func('const char *strerror(int errnum)'),
};

export const BTF_KIND_DATASEC = 15;
export const BPF_ANY = 0;
export const BPF_PROG_TYPE_TRACEPOINT = 5;
export const BPF_MAP_TYPE_RINGBUF = 27;
export const BPF_MAP_TYPE_TASK_STORAGE = 29;
export const BPF_FUNC_loop = 181;
