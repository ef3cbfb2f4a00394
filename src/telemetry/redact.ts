// SPDX-License-Identifier: Apache-2.0
/**
 * Secrets in command lines, redacted before anything leaves the agent. argv is the one place
 * where a container hands the agent secrets (the agent reads no environment): the exec sensor
 * redacts each exec's argv once, as it decodes the record, so every output (console, JSON lines,
 * OTLP log records, process span attributes) is built from the redacted copy.
 *
 * Rules (`redaction.rules`; the default set is {@link DEFAULT_REDACTION_RULES}):
 * - `flag: --password`: the value of that option: `--password=VALUE`, `--password VALUE` (the
 *   next argument), and inside an argument such as a `sh -c` script (`--password=V`,
 *   `--password V`). A one-letter flag (`-p`) also takes an attached value (`-pVALUE`).
 * - `assignment: "*_KEY"`: the value of `NAME=VALUE` where NAME matches the glob (`*` any run of
 *   letters, digits and `_`, `?` one), as an argument (`env API_KEY=x cmd`: everything after `=`)
 *   or inside one (`sh -c 'export API_KEY=x; ...'`: up to whitespace, a quote or an operator).
 * - The argument after `-c` is a script: only what is inside it is redacted, the rest kept.
 * - `command`: the rule applies only when argv[0]'s file name matches this glob, and then only to
 *   whole arguments (`-p VALUE`, `-pVALUE`), not inside scripts.
 * Flags and names match case-insensitively. With `redaction.url_credentials`, the password of a
 * URL (`scheme://user:PASSWORD@host`) anywhere in an argument is redacted too. A redacted value
 * becomes `***`; everything else is kept as it was.
 */

/** What replaces a secret. */
export const REDACTED = '***';

export interface RedactionRule {
  /** Names the rule in the config; not shown in records. */
  name: string;
  /** An option whose value is secret, with its dashes: `--password`, `-p`. */
  flag?: string;
  /** A glob on NAME in `NAME=VALUE`: `*_KEY`, `*PASSWORD*`. */
  assignment?: string;
  /** Only for commands whose argv[0] file name matches this glob (`mysql*`). */
  command?: string;
}

export interface RedactionConfig {
  enabled: boolean;
  url_credentials: boolean;
  rules: readonly RedactionRule[];
}

/** The default rules; `deploy/contguard.yaml` lists them. */
export const DEFAULT_REDACTION_RULES: readonly RedactionRule[] = [
  { name: 'password_flag', flag: '--password' },
  { name: 'passwd_flag', flag: '--passwd' },
  { name: 'token_flag', flag: '--token' },
  { name: 'secret_flag', flag: '--secret' },
  { name: 'api_key_flag', flag: '--api-key' },
  { name: 'client_secret_flag', flag: '--client-secret' },
  { name: 'key_assignment', assignment: '*_KEY' },
  { name: 'secret_assignment', assignment: '*SECRET*' },
  { name: 'token_assignment', assignment: '*TOKEN*' },
  { name: 'password_assignment', assignment: '*PASSWORD*' },
  { name: 'passwd_assignment', assignment: '*PASSWD*' },
  // `-p` is a port, a parent directory or a pid for most commands: only where it is a password.
  { name: 'mysql_p', flag: '-p', command: 'mysql*' },
  { name: 'mariadb_p', flag: '-p', command: 'mariadb*' },
  { name: 'sshpass_p', flag: '-p', command: 'sshpass' },
];

/** Valid `flag` values: one or two dashes, then a letter or digit, then name characters. */
export const FLAG_RE = /^--?[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Valid `assignment` globs: name characters and wildcards. */
export const ASSIGNMENT_RE = /^[A-Za-z0-9_*?]+$/;

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');

/**
 * Glob match (`*` any run, `?` one character), case-insensitive when asked: the two-pointer
 * wildcard algorithm, O(text x pattern) at worst, with no backtracking blow-up on hostile text.
 */
export function globMatch(pattern: string, text: string, ignoreCase = false): boolean {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const t = ignoreCase ? text.toLowerCase() : text;
  let pi = 0;
  let ti = 0;
  let star = -1;
  let mark = 0;
  while (ti < t.length) {
    if (pi < p.length && (p[pi] === '?' || (p[pi] !== '*' && p[pi] === t[ti]))) {
      pi++;
      ti++;
    } else if (pi < p.length && p[pi] === '*') {
      star = pi++;
      mark = ti;
    } else if (star >= 0) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

// A value inside a script: a quoted string, or a run up to whitespace, a quote or a shell operator.
const VALUE = `(?:'[^']*'|"[^"]*"|[^\\s'";&|()<>\`]+)`;
// What may stand before a flag or name inside a script: its start, whitespace, a quote, an operator.
const BEFORE = `(?<=^|[\\s'";&|()\`])`;
// The scheme starts at a boundary (a lookbehind), so a long run of letters is scanned once.
const URL_CREDENTIALS = /(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s/:@'"]*):([^\s/@'"]*)@/g;
const NAME_RE = /^[A-Za-z0-9_]+$/;

interface ArgvRule {
  command: string | null;
  flag: string | null; // lower case
  attached: boolean; // a one-letter flag: -pVALUE
  assignment: string | null;
}

const basename = (p: string) => p.slice(p.lastIndexOf('/') + 1);
/** Commands whose rules are kept worked out (argv[0] file names; a container chooses them). */
const COMMAND_CACHE = 256;

/** Redacts argv by configured rules; build once, apply to every exec. */
export class Redactor {
  private readonly argvRules: ArgvRule[];
  /** Flags of rules without `command`, and any NAME=, inside an argument (a script). */
  private readonly inText: RegExp;
  /** Assignment globs of rules without `command`. */
  private readonly textNames: string[];
  private readonly urls: boolean;
  private readonly byCommand = new Map<string, { flags: ArgvRule[]; names: string[] }>();
  readonly enabled: boolean;

  constructor(cfg: RedactionConfig) {
    this.enabled = cfg.enabled;
    this.urls = cfg.url_credentials;
    this.argvRules = cfg.rules.map((r) => ({
      command: r.command ?? null,
      flag: r.flag !== undefined ? r.flag.toLowerCase() : null,
      attached: r.flag !== undefined && /^-[A-Za-z0-9]$/.test(r.flag),
      assignment: r.assignment ?? null,
    }));
    const global = cfg.rules.filter((r) => r.command === undefined);
    const flags = global.flatMap((r) => (r.flag !== undefined ? [escapeRe(r.flag)] : []));
    this.textNames = global.flatMap((r) => (r.assignment !== undefined ? [r.assignment] : []));
    // Groups: 1 a flag and its separator, 2 a NAME= (checked against the globs), 3 the value.
    const flagPart = flags.length > 0 ? `((?:${flags.join('|')})(?:=|\\s+))|` : '()';
    this.inText = new RegExp(`${BEFORE}(?:${flagPart}([A-Za-z0-9_]+=))(${VALUE})`, 'gi');
  }

  private secretName(name: string, globs: readonly string[]): boolean {
    return NAME_RE.test(name) && globs.some((g) => globMatch(g, name, true));
  }

  /** The rules that apply to a command (by argv[0]'s file name), cached: bounded, oldest out. */
  private rulesFor(cmd: string): { flags: ArgvRule[]; names: string[] } {
    let r = this.byCommand.get(cmd);
    if (r) return r;
    const flags: ArgvRule[] = [];
    const names: string[] = [];
    for (const rule of this.argvRules) {
      if (rule.command !== null && !globMatch(rule.command, cmd)) continue;
      if (rule.flag !== null) flags.push(rule);
      if (rule.assignment !== null) names.push(rule.assignment);
    }
    r = { flags, names };
    if (this.byCommand.size >= COMMAND_CACHE) this.byCommand.delete(this.byCommand.keys().next().value as string);
    this.byCommand.set(cmd, r);
    return r;
  }

  /**
   * argv with every secret value replaced by {@link REDACTED}; `redacted` says whether any was.
   * Returns the same array when nothing matched (or redaction is off).
   */
  argv(argv: readonly string[]): { argv: string[]; redacted: boolean } {
    if (!this.enabled || argv.length === 0) return { argv: argv as string[], redacted: false };
    const { flags, names } = this.rulesFor(basename(argv[0]!));
    let out: string[] | null = null;
    const first = this.text(argv[0]!);
    if (first !== argv[0]) (out = argv.slice())[0] = first;
    for (let i = 1; i < argv.length; i++) {
      const arg = argv[i]!;
      let v = arg;
      if (argv[i - 1] === '-c') {
        // A shell script (`sh -c SCRIPT`): secrets inside it, the rest of it kept.
        v = this.text(arg);
      } else if (arg.charCodeAt(0) === 45 /* - */ && this.flagValue(arg, flags, i + 1 < argv.length) === 'next') {
        out ??= argv.slice();
        out[++i] = REDACTED; // the value is not a flag of its own
        continue;
      } else {
        v = this.flagValue(arg, flags, false) ?? this.assignmentValue(arg, names) ?? this.text(arg);
      }
      if (v !== arg) (out ??= argv.slice())[i] = v;
    }
    return out ? { argv: out, redacted: true } : { argv: argv as string[], redacted: false };
  }

  /** `--flag=V` / `-pV` redacted, 'next' for a bare flag whose value follows, or null. */
  private flagValue(arg: string, flags: readonly ArgvRule[], hasNext: boolean): string | 'next' | null {
    if (arg.charCodeAt(0) !== 45) return null;
    const lower = arg.toLowerCase();
    for (const r of flags) {
      const f = r.flag!;
      if (!lower.startsWith(f)) continue;
      if (lower.length === f.length) {
        if (hasNext) return 'next';
        continue;
      }
      if (lower.charCodeAt(f.length) === 61 /* = */) return `${arg.slice(0, f.length + 1)}${REDACTED}`;
      if (r.attached) return `${arg.slice(0, 2)}${REDACTED}`;
    }
    return null;
  }

  /** `NAME=V` with a secret NAME: everything after `=` redacted; else null. */
  private assignmentValue(arg: string, names: readonly string[]): string | null {
    const eq = arg.indexOf('=');
    return eq > 0 && this.secretName(arg.slice(0, eq), names) ? `${arg.slice(0, eq + 1)}${REDACTED}` : null;
  }

  /** Secrets inside one argument (a script): flags, assignments, URL passwords. */
  text(s: string): string {
    if (!this.enabled) return s;
    let out = s;
    if (s.includes('=') || s.includes(' ') || s.includes('\t') || s.includes('\n')) {
      out = out.replace(this.inText, (m: string, flag: string | undefined, name: string | undefined) => {
        if (flag) return `${flag}${REDACTED}`;
        if (name && this.secretName(name.slice(0, -1), this.textNames)) return `${name}${REDACTED}`;
        return m;
      });
    }
    if (this.urls && out.includes('://')) out = out.replace(URL_CREDENTIALS, (_m, head: string) => `${head}:${REDACTED}@`);
    return out;
  }
}
