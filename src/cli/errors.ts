/** CLI exit codes: 0 done; 1 error (one line saying what to do); 2 denied or timed out while waiting. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2 = 1) {
    super(message);
  }
}

export const EXIT_DENIED = 2 as const;
