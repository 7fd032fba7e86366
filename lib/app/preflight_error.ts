/**
 * The error of a failed preflight (preflight.ts), apart from the checks so
 * the command line can recognise it without loading them.
 *
 * @module
 */

/** What a preflight problem is about. */
export type PreflightKind = "permission" | "program" | "privilege" | "remote";

/** One thing that would make the run fail. */
export interface PreflightProblem {
  /** What it is about. */
  kind: PreflightKind;
  /** One line: the problem and its fix. */
  message: string;
}

/** The run cannot succeed as started: bad input (exit 2); nothing was changed. */
export class PreflightError extends Error {
  /** Every problem found, in the order checked. */
  readonly problems: readonly PreflightProblem[];

  /**
   * An error listing `problems`, one line each.
   *
   * @param problems At least one.
   */
  constructor(problems: readonly PreflightProblem[]) {
    super(problems.map((p) => p.message).join("\nsnap2s3: "));
    this.name = "PreflightError";
    this.problems = problems;
  }

  /** Only remotes were unreachable: a long-running caller may try again later. */
  get onlyRemotes(): boolean {
    return this.problems.every((p) => p.kind === "remote");
  }
}
