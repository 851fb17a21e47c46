import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DataplaneDriver } from '@wgmesh/dataplane';
import type { Logger } from '@wgmesh/log';
import { PRIVATE_KEY_FILE } from '@wgmesh/peer-discovery';
import { keyToBase64, loadOrCreatePrivateKey, publicKeyFromPrivate, savePrivateKey } from '@wgmesh/wireguard';
import { enrols, type PeerDiscoveryConfig } from '../config';
import type { HubKey } from './enroll.service';

/**
 * The hub's key pair, which enrolment checks proofs of key possession with: `<state-dir>/private.key`
 * (what `registry up --create` made the hub with), else read from the device (an adopted hub)
 * and saved there, so a hub device lost and created again keeps its key. It must be the
 * device's. Null without enrolment.
 */
export async function resolveHubKey(config: PeerDiscoveryConfig, driver: DataplaneDriver, log: Logger): Promise<HubKey | null> {
  if (!enrols(config)) return null;
  const path = join(config.stateDir, PRIVATE_KEY_FILE);
  const device = await driver.read().catch((err: Error) => {
    throw new Error(`enrolment needs the hub device ${driver.device}, which cannot be read: ${err.message}`);
  });
  let hub: HubKey;
  if (existsSync(path)) {
    const file = loadOrCreatePrivateKey(path);
    hub = { publicKey: keyToBase64(publicKeyFromPrivate(file.key.reveal())), privateKey: file.key };
  } else {
    const key = await driver.readPrivateKey?.();
    if (!key) throw new Error(`enrolment checks proofs of key possession with the hub's private key: put it in ${path} (0600), or give a device whose key the ${driver.kind} driver can read`);
    hub = { publicKey: keyToBase64(publicKeyFromPrivate(key.reveal())), privateKey: key };
    try {
      savePrivateKey(path, key);
      log.info("saved the hub device's private key in the state directory (a lost hub device is created again with it)", { path, publicKey: hub.publicKey });
    } catch (err) {
      log.warn("read the hub's private key from the device; it could not be kept in the state directory (whoever created the device keeps it)", { path, error: (err as Error).message });
    }
  }
  if (device.publicKey !== hub.publicKey) throw new Error(`the hub device ${driver.device} has the key ${device.publicKey ?? '(none)'}, but ${path} holds the key of ${hub.publicKey}`);
  return hub;
}
