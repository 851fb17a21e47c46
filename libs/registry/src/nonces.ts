import type { KV } from 'nats';
import { isConflict } from './state';

/**
 * Nonces of enrolment requests already accepted, in the store of record's nonce bucket (its
 * entries expire after twice the proof window). A request carries a fresh nonce; the same nonce
 * twice is a replay: a captured request cannot enrol a removed member back.
 */
export class NonceBook {
  constructor(
    private readonly kv: KV,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a nonce (base64); false when it was seen before. */
  async first(nonce: string): Promise<boolean> {
    try {
      await this.kv.create(Buffer.from(nonce, 'base64').toString('hex'), String(this.now()));
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }
}
