// SPDX-License-Identifier: Apache-2.0
/**
 * What the command line asks of each command, as plain types. A module of its own, importing
 * nothing, so the config loader and the commands can use these types without importing the
 * parser (src/cli/args.ts), which itself imports the config module's validators.
 */

/** Options of `contguard run`; each one overrides the matching config-file setting. */
export interface CliRunOptions {
  /** Path of the YAML config file. */
  config?: string;
  /** Directory for JSON-lines event logs (`outputs.jsonl.dir`). */
  logDir?: string;
  /** Prometheus listen address, or `'off'` to disable the endpoint. */
  prometheus?: { host: string; port: number } | 'off';
  /** OTLP endpoint URL (`outputs.otlp.endpoint`). */
  otlpEndpoint?: string;
  /** File to create once the agent is ready (for readiness probes). */
  readyFile?: string;
  /** One of `error`, `warn`, `info`, `debug`. */
  logLevel?: string;
  /** Also report host (non-container) processes. */
  includeHost?: boolean;
}

/** Options of `contguard seccomp`. */
export interface CliSeccompOptions {
  /** Container name, id (prefix), or image name[:tag] to build a profile for. */
  target?: string;
  /** Running container whose recorded use is compared with the profile it runs under. */
  check?: string;
  /** The agent's YAML config file: its `docker.socket` and `outputs.jsonl.dir` become the defaults. */
  config?: string;
  /** Where the agent wrote its JSON lines; default `outputs.jsonl.dir` of the config (/var/log/contguard). */
  logDir?: string;
  out?: string;
  dockerDefault?: string;
}

/** Options of `contguard policy`. */
export interface CliPolicyOptions {
  /** `dry-run`: evaluate `policy` over the recorded connections; `suggest`: print a policy covering them. */
  mode: 'dry-run' | 'suggest';
  /** The proposed policy (YAML: rules, egress); required for `dry-run`. */
  policy?: string;
  /** Where the agent wrote its JSON lines; default /var/log/contguard. */
  logDir?: string;
  /** Only records at or after this ISO 8601 time (validated by the parser). */
  since?: string;
  /** Only records before this ISO 8601 time. */
  until?: string;
  /** Print the report (or the suggested policy) as JSON. */
  json?: boolean;
}

/** Options of `contguard anomaly`. */
export interface CliAnomalyOptions {
  /** train: learn models from the recording; score: score it with the stored models. */
  mode: 'train' | 'score';
  /** Where the agent wrote its JSON lines; default `outputs.jsonl.dir` of the config. */
  logDir?: string;
  /** The agent's YAML config file (its anomaly section applies). */
  config?: string;
  /** Where models are kept; default `anomaly.state_dir` of the config. */
  stateDir?: string;
  /** One JSON object per scored window. */
  json?: boolean;
}
