/**
 * Zod's issue texts ("Invalid input: expected number, received string") rewritten as sentences a
 * person can act on ("must be a number, not a string"). Used for API bodies and the config file.
 */
import type { z } from 'zod';

const article = (type: string) => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

export function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type': {
      const received = /received (\w+)/.exec(issue.message)?.[1];
      if (received === 'undefined') return 'is required';
      const expected = issue.expected === 'record' ? 'map of names to values' : issue.expected;
      return `must be ${article(expected)}${received ? `, not ${received === 'NaN' ? 'a non-number' : article(received)}` : ''}`;
    }
    case 'too_big':
      return issue.origin === 'string' ? `must be at most ${String(issue.maximum)} characters` : issue.origin === 'array' ? `must have at most ${String(issue.maximum)} items` : `must be at most ${String(issue.maximum)}`;
    case 'too_small':
      return issue.origin === 'string' ? (issue.minimum === 1 ? 'must not be empty' : `must be at least ${String(issue.minimum)} characters`) : issue.origin === 'array' ? `must have at least ${String(issue.minimum)} item${issue.minimum === 1 ? '' : 's'}` : `must be at least ${String(issue.minimum)}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return issue.message;
  }
}
