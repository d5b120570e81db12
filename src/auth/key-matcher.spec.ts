import { createHash } from 'node:crypto';
import { keyDigest } from '../config/security.config';
import { bearerToken, KeyMatcher } from './key-matcher';

const CALLER = 'caller-key-0123456789abcdef';
const ADMIN = 'admin-key-0123456789abcdef';

describe('KeyMatcher', () => {
  const matcher = new KeyMatcher({ apiKeyDigests: [keyDigest('other-key-0123456789abcdef'), keyDigest(CALLER)], adminKeyDigest: keyDigest(ADMIN) });

  it('knows a caller key and the admin key by role', () => {
    expect(matcher.match(CALLER)?.role).toBe('caller');
    expect(matcher.match(ADMIN)?.role).toBe('admin');
    expect(matcher.callerKeysConfigured).toBe(true);
  });

  it('identifies a caller by a SHA-256 prefix, never by the key', () => {
    const id = matcher.match(CALLER)!.id;
    expect(id).toBe(createHash('sha256').update(CALLER).digest('hex').slice(0, 16));
    expect(id).not.toContain(CALLER.slice(0, 8));
  });

  it.each([['', 'empty'], [CALLER.slice(0, -1), 'a prefix'], [`${CALLER}0`, 'an extension'], [CALLER.toUpperCase(), 'another case']])(
    'refuses %j (%s)',
    (presented) => expect(matcher.match(presented)).toBeUndefined(),
  );

  it('has no caller keys when only the admin key is set', () => {
    expect(new KeyMatcher({ apiKeyDigests: [], adminKeyDigest: keyDigest(ADMIN) }).callerKeysConfigured).toBe(false);
  });
});

describe('bearerToken', () => {
  it.each([
    ['Bearer abc', 'abc'],
    ['bearer abc', 'abc'],
    ['BEARER   abc ', 'abc'],
    ['Bearer', undefined],
    ['Bearer ', undefined],
    ['Basic abc', undefined],
    ['abc', undefined],
    ['Bearer abc def', undefined],
    [undefined, undefined],
  ])('reads %j as %j', (header, token) => expect(bearerToken(header)).toBe(token));
});
