import type { DeviceSpec, DeviceState } from './driver';
import { DeviceKeeper } from './device-keeper';
import { MemoryDriver, testPeer } from './testing';

/** A device that can be lost: reads fail until it is ensured again, which starts it empty. */
class LosableDriver extends MemoryDriver {
  gone = false;
  ensured: DeviceSpec[] = [];
  override async ensureDevice(spec: DeviceSpec): Promise<void> {
    this.ensured.push(spec);
    if (this.gone) this.peers.clear();
    this.gone = false;
  }
  override async read(): Promise<DeviceState> {
    if (this.gone) throw new Error('no UAPI socket');
    return super.read();
  }
}

describe('DeviceKeeper: a device this process created is created again when it is gone', () => {
  const spec: DeviceSpec = { create: true, listenPort: 51820, addresses: ['10.99.0.1/16'] };

  it('leaves a readable device alone', async () => {
    const driver = new LosableDriver();
    const keeper = new DeviceKeeper({ driver, spec, intervalMs: 1000 });
    expect(await keeper.check()).toBe(false);
    expect(driver.ensured).toEqual([]);
  });

  it('ensures a lost device again with the same spec, puts the bootstrap peers back, and says so', async () => {
    const driver = new LosableDriver();
    const registry = { ...testPeer(1), persistentKeepalive: 25 };
    let recreated = 0;
    const keeper = new DeviceKeeper({ driver, spec, bootstrap: [registry], intervalMs: 1000, onRecreated: () => recreated++ });
    driver.gone = true;
    expect(await keeper.check()).toBe(true);
    expect(driver.ensured).toEqual([spec]);
    expect([...driver.peers.keys()]).toEqual([registry.publicKey]);
    expect(recreated).toBe(1);
    expect(await keeper.check()).toBe(false);
  });

  it('keeps trying when it cannot create it', async () => {
    const driver = new LosableDriver();
    driver.ensureDevice = async () => {
      throw new Error('no wireguard-go');
    };
    driver.gone = true;
    const keeper = new DeviceKeeper({ driver, spec, intervalMs: 1000 });
    expect(await keeper.check()).toBe(false);
    expect(await keeper.check()).toBe(false);
    expect(keeper.counters.failures).toBe(2);
  });
});
