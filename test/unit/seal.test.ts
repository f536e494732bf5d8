import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { deriveSealKey, isSealed, seal, SealKey, unseal } from '../../src/core/seal';

describe('sealing secrets (core/seal)', () => {
  let key: SealKey;
  let other: SealKey;
  before(async () => {
    [key, other] = await Promise.all([deriveSealKey('credential secret one'), deriveSealKey('credential secret two')]);
  });

  it('round trip: what is sealed under a name opens under that name, with the same key derived again', async () => {
    const value = JSON.stringify({ accessToken: 'eyJ.x.y', refreshToken: 'r-1', é: '✓' });
    const sealed = seal(key, 'oauth-token:rs', value);
    assert.equal(unseal(await deriveSealKey('credential secret one'), 'oauth-token:rs', sealed), value);
    assert.equal(unseal(key, 'k', seal(key, 'k', '')), '', 'an empty value too');
  });

  it('is a versioned text that shows nothing of the value, and differs at every sealing (random IV)', () => {
    const a = seal(key, 'token-signing-key', 'the-key-material');
    const b = seal(key, 'token-signing-key', 'the-key-material');
    assert.match(a, /^rps-sealed:1:[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    assert.notEqual(a, b);
    assert.ok(!a.includes('the-key-material') && !a.includes(Buffer.from('the-key-material').toString('base64url')));
    assert.ok(isSealed(a));
    assert.ok(!isSealed('{"v":1}') && !isSealed('c2lnbmluZy1rZXk'), 'values written in clear are not taken for sealed ones');
  });

  it('does not open with another key (the credential secret changed)', () => {
    assert.equal(unseal(other, 'n', seal(key, 'n', 'secret')), undefined);
  });

  it('does not open under another name: a sealed value cannot be moved to another key', () => {
    assert.equal(unseal(key, 'oauth-token:other', seal(key, 'oauth-token:rs', 'secret')), undefined);
    assert.equal(unseal(key, 'oauth-token:r', seal(key, 'oauth-token:rs', 'secret')), undefined);
  });

  it('refuses any change: IV, ciphertext or tag altered, parts swapped, truncated, or malformed', () => {
    const sealed = seal(key, 'n', 'a secret value of some length');
    const [prefix, body] = [sealed.slice(0, 'rps-sealed:1:'.length), sealed.slice('rps-sealed:1:'.length)];
    const [iv, ct, tag] = body.split('.');
    const flip = (part: string, at: number): string => {
      const bytes = Buffer.from(part, 'base64url');
      bytes[at] ^= 0x01;
      return bytes.toString('base64url');
    };
    const tampered = [
      `${prefix}${flip(iv, 0)}.${ct}.${tag}`,
      `${prefix}${iv}.${flip(ct, 3)}.${tag}`,
      `${prefix}${iv}.${flip(ct, Buffer.from(ct, 'base64url').length - 1)}.${tag}`,
      `${prefix}${iv}.${ct}.${flip(tag, 15)}`,
      `${prefix}${iv}.${ct.slice(0, -2)}.${tag}`,
      `${prefix}${iv}.${ct}.${tag.slice(0, -2)}`,
      `${prefix}${iv}.${ct}`,
      `${prefix}${iv}.${ct}.${tag}.x`,
      `${prefix}${iv}.${ct}.${tag}=`,
      `${prefix}${iv}.${ct}+.${tag}`,
      `rps-sealed:2:${body}`,
      'rps-sealed:1:',
      'plain text',
    ];
    for (const text of tampered) assert.equal(unseal(key, 'n', text), undefined, text);
  });

  it('a key never shows its bytes when printed, serialised or inspected', async () => {
    const bytes = Buffer.alloc(32, 0xab);
    const k = new SealKey(bytes);
    const shown = [String(k), JSON.stringify({ k }), inspect(k, { showHidden: true, depth: 5 }), `${k}`];
    for (const text of shown) {
      for (const form of [bytes.toString('hex'), bytes.toString('base64'), 'ab, ab', '171, 171']) assert.ok(!text.includes(form), `${text} shows ${form}`);
    }
    assert.throws(() => new SealKey(Buffer.alloc(16)));
  });
});
