/**
 * Cursor names nobody can forge: an awareness update as received, its states' `user.name`
 * replaced by the display name the server stamped on the publication that carried it.
 * Kept apart from `sharedcell-sync.ts` (no JupyterLab imports) so that it is unit-tested.
 *
 * Public name: `stampAwareness`.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';

/**
 * An awareness update with the cursor name of every state it carries replaced by `name`,
 * the display name the server verified for its publisher: a client cannot label its
 * cursor (or someone else's) with another user's name. Null when it is not an update.
 */
export function stampAwareness(update: Uint8Array, name: string): Uint8Array | null {
  try {
    const decoder = decoding.createDecoder(update);
    const encoder = encoding.createEncoder();
    const count = decoding.readVarUint(decoder);
    encoding.writeVarUint(encoder, count);
    for (let i = 0; i < count; i++) {
      encoding.writeVarUint(encoder, decoding.readVarUint(decoder)); // client id
      encoding.writeVarUint(encoder, decoding.readVarUint(decoder)); // clock
      const state: unknown = JSON.parse(decoding.readVarString(decoder));
      if (state !== null && typeof state === 'object') {
        const record = state as Record<string, unknown>;
        const user = record.user !== null && typeof record.user === 'object' ? record.user : {};
        record.user = { ...user, name };
      }
      encoding.writeVarString(encoder, JSON.stringify(state));
    }
    return encoding.toUint8Array(encoder);
  } catch {
    return null;
  }
}
