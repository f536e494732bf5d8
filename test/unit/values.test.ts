/**
 * Record values as msg.payload holds them, turned into the JSON field values the protocol
 * carries: what cannot be carried is refused with a reason that says what to do, and
 * offers nothing the package does not do.
 */
import assert from 'node:assert/strict';
import { toFields, ValueError } from '../../src/core/values';

describe('field values (core/values)', () => {
  it('a Buffer is refused as binary data, naming the field and what to do instead', () => {
    assert.throws(
      () => toFields({ id: 1, photo: Buffer.from('x') }, 'payload'),
      (err: unknown) => {
        assert.ok(err instanceof ValueError);
        assert.equal(err.message, 'payload.photo: is binary data, which a field cannot hold: convert it to text first (e.g. base64)');
        assert.doesNotMatch(err.message, /attachment/i, 'no feature that does not exist');
        return true;
      },
    );
  });

  it('the same data as base64 text is taken', () => {
    assert.deepEqual(toFields({ id: 1, photo: Buffer.from('x').toString('base64') }, 'payload'), { id: 1, photo: 'eA==' });
  });
});
