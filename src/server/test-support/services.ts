/**
 * Gate for suites that need a system service (PostgreSQL, sshd, a Secret Service…). Without it the
 * suite is skipped with one line saying what is missing; with LATCH_TEST_STRICT=1 (CI) it fails.
 */
export const strict = process.env.LATCH_TEST_STRICT === '1';

/** Returns true when the suite can run. Call at module level and pass to `describe.runIf`. */
export function serviceAvailable(suite: string, missing: string | null): boolean {
  if (missing === null) return true;
  if (strict) throw new Error(`${suite}: needs ${missing} (LATCH_TEST_STRICT=1, so this fails instead of skipping)`);
  console.warn(`[skip] ${suite}: needs ${missing}`);
  return false;
}
