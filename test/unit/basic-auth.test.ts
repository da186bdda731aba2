import { describe, expect, it } from 'vitest';
import { basicCredentials } from '../../src/core/basic-auth.js';

const header = (text: string, scheme = 'Basic') => `${scheme} ${Buffer.from(text).toString('base64')}`;

describe('basicCredentials', () => {
  it('reads the id and the secret, the secret up to the end (colons and all), whatever the case of the scheme', () => {
    expect(basicCredentials(header('lkc_abc:s3cret'), 512)).toEqual({ id: 'lkc_abc', secret: 's3cret' });
    expect(basicCredentials(header('id:a:b:c', 'basic'), 512)).toEqual({ id: 'id', secret: 'a:b:c' });
    expect(basicCredentials(header(':'), 512)).toEqual({ id: '', secret: '' });
  });

  it('is undefined without a header or for another scheme', () => {
    expect(basicCredentials(undefined, 512)).toBeUndefined();
    expect(basicCredentials('', 512)).toBeUndefined();
    expect(basicCredentials('Bearer abc', 512)).toBeUndefined();
    expect(basicCredentials('Basicabc', 512)).toBeUndefined();
  });

  it('is malformed when Basic but unreadable: not base64, no colon, or longer than allowed', () => {
    expect(basicCredentials('Basic !!!', 512)).toBe('malformed');
    expect(basicCredentials('Basic abc def', 512)).toBe('malformed');
    expect(basicCredentials(header('no-colon'), 512)).toBe('malformed');
    expect(basicCredentials(header(`id:${'s'.repeat(600)}`), 512)).toBe('malformed');
    expect(basicCredentials(header(`id:${'s'.repeat(600)}`), 2048)).toEqual({ id: 'id', secret: 's'.repeat(600) });
  });
});
