/**
 * The doctor's findings: each says what was checked, how it went, and what to do about it. A report is green
 * when nothing is `warn` or `fail`; `info` notes how things are without asking for a change.
 */

/** How a check went: `ok` and `info` are green, `warn` works but not as it should, `fail` will not work. */
export type FindingStatus = 'ok' | 'info' | 'warn' | 'fail';

/** One finding (snake_case: it goes out as JSON as it is, in GET /api/doctor). */
export interface Finding {
  /** What was checked, e.g. `ffmpeg`, `broker.session`, `engine.piper`. */
  check: string;
  status: FindingStatus;
  /** What was found, with the figures (ms, MB, RTF). */
  message: string;
  /** What to do; present on every `warn` and `fail`. */
  fix?: string;
}

/** The whole report. */
export interface DoctorReport {
  /** True when no finding is `warn` or `fail`. */
  green: boolean;
  counts: Record<FindingStatus, number>;
  findings: Finding[];
  /** Wall time of all checks, in ms. */
  took_ms: number;
}

/** Builds the report from the findings of every check. */
export function toReport(findings: Finding[], tookMs: number): DoctorReport {
  const counts: Record<FindingStatus, number> = { ok: 0, info: 0, warn: 0, fail: 0 };
  for (const f of findings) counts[f.status]++;
  return { green: counts.warn === 0 && counts.fail === 0, counts, findings, took_ms: Math.round(tookMs) };
}

const MARK: Record<FindingStatus, string> = { ok: '✓', info: 'i', warn: '!', fail: '✗' };

/** The report as text for a terminal: one line per finding, its fix indented under it, and a summary line. */
export function formatReport(report: DoctorReport): string {
  const lines = report.findings.map((f) => {
    const head = `${MARK[f.status]} ${f.check.padEnd(24)} ${f.message}`;
    return f.fix ? `${head}\n  ${' '.repeat(25)}→ ${f.fix}` : head;
  });
  const { ok, info, warn, fail } = report.counts;
  const verdict = report.green ? 'all green' : fail ? 'problems found' : 'warnings';
  lines.push(
    '',
    `${verdict}: ${ok} ok, ${info} info, ${warn} warnings, ${fail} failures (${report.took_ms} ms)`,
  );
  return `${lines.join('\n')}\n`;
}

/** Runs `check`, turning a throw into one `fail` finding for `name` (a check must never break the report). */
export async function guarded(name: string, check: () => Promise<Finding[]>): Promise<Finding[]> {
  try {
    return await check();
  } catch (err) {
    return [
      {
        check: name,
        status: 'fail',
        message: `the check itself failed: ${err instanceof Error ? err.message : String(err)}`,
        fix: 'run npm run doctor with log_level debug and report the message',
      },
    ];
  }
}
