// SPDX-License-Identifier: Apache-2.0
/** What this kernel offers, asked of libbpf's probes (they load a tiny program or map). */
import { BPF_FUNC_loop, BPF_MAP_TYPE_RINGBUF, BPF_MAP_TYPE_TASK_STORAGE, BPF_PROG_TYPE_TRACEPOINT, libbpf } from './libbpf.js';

function mapType(type: number): boolean {
  return libbpf.libbpf_probe_bpf_map_type(type, null) === 1;
}

export const kernelHas = {
  ringBuffer: () => mapType(BPF_MAP_TYPE_RINGBUF),
  taskStorage: () => mapType(BPF_MAP_TYPE_TASK_STORAGE),
  /** bpf_loop (5.17+), from tracing programs. */
  bpfLoop: () => libbpf.libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_loop, null) === 1,
};
