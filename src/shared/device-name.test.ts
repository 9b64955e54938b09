import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEVICE_NAME_MAX, deviceNameFrom, deviceNameSchema } from './device-name.js';

describe('deviceNameSchema', () => {
  it('takes a plain name, trimmed', () => {
    for (const name of ['ana-laptop', "Ana's MacBook Pro", 'Zoë’s ThinkPad (cli)', '工作站', 'x'.repeat(DEVICE_NAME_MAX)]) {
      expect(deviceNameSchema.parse(name)).toBe(name);
    }
    expect(deviceNameSchema.parse('  ana-laptop \n')).toBe('ana-laptop');
  });

  it('refuses control characters, line breaks and invisible formatting, and names over the limit', () => {
    for (const name of ['evil\u001b]0;pwned\u0007\n', 'ana\tlaptop', 'two\nlines', 'ana\u2028laptop', 'pot\u202eexe.txt', 'ana\u200blaptop', 'lone \ud800 surrogate']) {
      const r = deviceNameSchema.safeParse(name);
      expect(r.success, JSON.stringify(name)).toBe(false);
      expect(r.error?.issues[0]?.message).toMatch(/plain text on one line, without control or invisible characters/);
    }
    expect(deviceNameSchema.safeParse('x'.repeat(DEVICE_NAME_MAX + 1)).success).toBe(false);
  });
});

describe('deviceNameFrom (the default name, from the host name)', () => {
  it('is always a name the schema takes, keeping the suffix', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.constantFrom('', ' (cli)'), (host, suffix) => {
        const name = deviceNameFrom(host, suffix);
        expect(deviceNameSchema.safeParse(name).success).toBe(true);
        if (name !== '') expect(name.endsWith(suffix)).toBe(true);
      }),
    );
  });

  it('keeps an ordinary host name as it is, and cuts a long one', () => {
    expect(deviceNameFrom('ana-laptop.local', ' (cli)')).toBe('ana-laptop.local (cli)');
    expect(deviceNameFrom('h'.repeat(253), ' (cli)')).toBe(`${'h'.repeat(DEVICE_NAME_MAX - 6)} (cli)`);
    expect(deviceNameFrom('\u0007\n')).toBe('');
  });
});
