import { createLogger } from '@wgmesh/log';
import { RoleProcess } from './role-process';

describe('RoleProcess.close', () => {
  it('closes every service in reverse order even when one fails, and logs the failure', async () => {
    const lines: string[] = [];
    const role = await RoleProcess.start(null, createLogger({ service: 'test', level: 'warn', write: (l) => lines.push(l) }));
    const closed: string[] = [];
    role.onClose(async () => void closed.push('first'));
    role.onClose(async () => {
      closed.push('second');
      throw new Error('connection closed');
    });
    role.onClose(async () => void closed.push('third'));
    await expect(role.close()).resolves.toBeUndefined();
    expect(closed).toEqual(['third', 'second', 'first']);
    expect(lines.map((l) => JSON.parse(l) as { msg: string; error?: string })).toContainEqual(expect.objectContaining({ msg: 'a service did not stop cleanly; closing the others', error: 'connection closed' }));
  });
});
