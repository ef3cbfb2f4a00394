// SPDX-License-Identifier: Apache-2.0
/** `contguard` entry point: parses the command line, runs a command, maps failures to exit codes. */
import { ConfigError, DEFAULT_CONFIG, checkOtlpHeaderTransport, loadConfigFile, mergeCliOverrides, resolveOtlpEndpoint } from './config.js';
import { parseCli, UsageError } from './cli/args.js';
import type { CliRunOptions } from './cli/options.js';
import { createLogger } from './log.js';

/** Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

function fail(message: string, code: number): number {
  process.stderr.write(`contguard: ${message.split('\n')[0]}\n`);
  return code;
}

async function run(options: CliRunOptions): Promise<number> {
  const base = options.config ? loadConfigFile(options.config) : DEFAULT_CONFIG;
  const cfg = mergeCliOverrides(base, options);
  // Validates the environment, and where headers may go, before anything starts.
  checkOtlpHeaderTransport(cfg, resolveOtlpEndpoint(cfg));
  const logger = createLogger(cfg.log_level);
  const { startAgent } = await import('./agent.js');
  const agent = await startAgent(cfg, { readyFile: options.readyFile, logger });
  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      logger.info(`${sig}: stopping`);
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  await agent.stop();
  // An export left hanging (a collector that never answers) must not keep the process alive.
  setTimeout(() => process.exit(EXIT_OK), 1000).unref();
  return EXIT_OK;
}

export async function main(argv: string[]): Promise<number> {
  try {
    const cmd = parseCli(argv);
    switch (cmd.kind) {
      case 'help':
        process.stdout.write(cmd.text.endsWith('\n') ? cmd.text : `${cmd.text}\n`);
        return EXIT_OK;
      case 'version': {
        const { packageVersion } = await import('./agent.js');
        process.stdout.write(`contguard ${packageVersion()}\n`);
        return EXIT_OK;
      }
      case 'doctor': {
        const { runDoctor } = await import('./doctor.js');
        return await runDoctor({ json: cmd.json });
      }
      case 'seccomp': {
        const { runSeccomp } = await import('./seccomp/command.js');
        return await runSeccomp(cmd.options);
      }
      case 'policy': {
        const { runPolicy } = await import('./policy/command.js');
        return await runPolicy(cmd.options);
      }
      case 'anomaly': {
        const { runAnomaly } = await import('./anomaly/offline.js');
        return await runAnomaly(cmd.options);
      }
      case 'run':
        return await run(cmd.options);
    }
  } catch (err) {
    if (err instanceof UsageError) return fail(`${err.message} (see "contguard help")`, EXIT_USAGE);
    if (err instanceof ConfigError) return fail(err.message, EXIT_USAGE);
    const { PolicyInputError } = await import('./policy/records.js');
    if (err instanceof PolicyInputError) return fail(`policy: ${err.message}`, EXIT_FAILURE);
    const { AnomalyInputError } = await import('./anomaly/offline.js');
    if (err instanceof AnomalyInputError) return fail(`anomaly: ${err.message}`, EXIT_FAILURE);
    const { AgentStartError } = await import('./agent.js');
    if (err instanceof AgentStartError) return fail(err.message, EXIT_FAILURE);
    const { SeccompInputError } = await import('./seccomp/recordings.js');
    if (err instanceof SeccompInputError) return fail(`seccomp: ${err.message}`, EXIT_FAILURE);
    const e = err as Error;
    if (process.env.CONTGUARD_DEBUG) process.stderr.write(`${e.stack}\n`);
    return fail(`error: ${e.message ?? String(e)}`, EXIT_FAILURE);
  }
  return EXIT_OK;
}
