import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { splitEnrollToken } from '@wgmesh/nats-auth';
import { describeE2E, OTLP_SPAN_PREFIX } from '@wgmesh/testing';
import { toolEnv } from './exec';
import { Lab } from './lab';
import { Mesh, MESH, missingMeshTools, startMesh, WORKSPACE } from './mesh';
import { NATS_TAP_PREFIX } from './nats-tap';
import type { LabProcess } from './process';
import { findExecutable, missingRequirements } from './requirements';
import { describeFindings, Haystack, scanForSecrets, Secret, secretsInStateDir } from './secret-scan';

/**
 * Nothing the system emits holds a secret. A lab mesh (registry, three members) runs with NATS
 * authentication, the Redis ACL user and tracing on; we record everything it emits: every NATS
 * message (subscribed to `>` in the registry's namespace with the registry's credential, from
 * before the first enrolment), every Redis key and value, every log file of the run and every
 * exported span (OTLP/HTTP receiver in the registry's namespace), and the mesh map as a browser
 * gets it (the page, its script and style, the state and the live feed). Then we look in all of it for
 * the run's secrets: each private.key (in every encoding), each NATS seed, the token, the Redis
 * password, and any nkey seed or `wgm_` token at all.
 */
const RECEIVER_PORT = 4318;
const problems = [...missingRequirements(), ...missingMeshTools(), ...(findExecutable('redis-cli') ? [] : ['redis-cli is missing (Redis dump): apt-get install redis-tools'])];
const report = (line: string) => process.stderr.write(`secret scan e2e: ${line}\n`);
const node = (script: string, args: string[]) => [process.execPath, ['-r', join(WORKSPACE, 'bin/register.js'), join(WORKSPACE, script), ...args]] as const;

describeE2E('no secret in NATS traffic, Redis, logs or spans of a lab run', problems, () => {
  let lab: Lab;
  let mesh: Mesh;
  let tap: LabProcess;
  let receiver: LabProcess;
  const nats: string[] = [];
  const spans: string[] = [];

  beforeAll(async () => {
    lab = await Lab.up({ members: [{ name: 'a', nat: 'eim' }, { name: 'b', nat: 'eim' }, { name: 'c', nat: 'public' }] });
    const [cmd, args] = node('libs/testing/src/otlp-receiver.ts', ['--listen', `0.0.0.0:${RECEIVER_PORT}`]);
    receiver = lab.spawn('registry', cmd, args, {}, { cwd: WORKSPACE, maxLines: 100 });
    receiver.onLine((line) => line.startsWith(OTLP_SPAN_PREFIX) && spans.push(line));
    await receiver.waitForLine(/otlp receiver listening/, 15_000);
    const env = (host: string) => ({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://${host === 'registry' ? '127.0.0.1' : MESH.registryAddress}:${RECEIVER_PORT}`,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_TRACES_SAMPLER: 'parentbased_always_on',
    });
    // NATS, Redis, the registry and the token first; the tap listens before anyone enrols.
    mesh = await startMesh(lab, { env, members: [] });
    const [tcmd, targs] = node('libs/lab/src/nats-tap.ts', [`nats://127.0.0.1:${MESH.nats}`, mesh.natsAuth.registryCreds]);
    tap = lab.spawn('registry', tcmd, targs, {}, { cwd: WORKSPACE, maxLines: 100 });
    tap.onLine((line) => line.startsWith(NATS_TAP_PREFIX) && nats.push(line));
    await tap.waitForLine(/nats tap listening/, 15_000);
    await Promise.all(['a', 'b', 'c'].map((n) => mesh.startMember(n)));
    await mesh.waitForMesh(20_000);
    // The operator's tools too: the peer table at the registry, status on a member.
    await mesh.wgmesh('registry', ['peers', '--json', '--mesh', MESH.name, '--nats', `nats://127.0.0.1:${MESH.nats}`]);
    await mesh.wgmesh('a', ['status', '--json', '--state-dir', mesh.member('a').stateDir]);
    await new Promise((r) => setTimeout(r, 1500)); // spans batched every 100 ms; state reports
  }, 120_000);

  afterAll(async () => {
    await tap?.stop('SIGTERM', 3000);
    await mesh?.down();
    await receiver?.stop('SIGTERM', 3000);
    await lab?.down();
  }, 30_000);

  async function redisDump(): Promise<Haystack[]> {
    const cli = (args: string[]) => lab.exec('registry', 'redis-cli', ['--no-auth-warning', '--user', 'wgmesh-registry', '-p', String(MESH.redis), ...args], { env: toolEnv({ REDISCLI_AUTH: mesh.redisPassword }) });
    const keys = (await cli(['--scan', '--pattern', '*'])).stdout.split('\n').filter(Boolean);
    return Promise.all(
      keys.map(async (key) => {
        const type = (await cli(['TYPE', key])).stdout.trim();
        const read = { hash: ['HGETALL', key], string: ['GET', key], zset: ['ZRANGE', key, '0', '-1', 'WITHSCORES'], list: ['LRANGE', key, '0', '-1'], set: ['SMEMBERS', key] }[type];
        return { source: `redis ${key} (${type})`, text: `${key}\n${read ? (await cli(read)).stdout : ''}` };
      }),
    );
  }

  /** The mesh map as the host's browser gets it: page, script, style, state, and the feed's first view. */
  async function mapHaystacks(): Promise<Haystack[]> {
    const get = async (path: string) => ({ source: `map ${path}`, text: await (await fetch(`${mesh.mapUrl}${path}`)).text() });
    const abort = new AbortController();
    const feed = (await fetch(`${mesh.mapUrl}/feed`, { signal: abort.signal })).body!.getReader();
    let text = '';
    while (!/^event: view\ndata: .*\n\n/m.test(text)) {
      const { value, done } = await feed.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    abort.abort();
    return [...(await Promise.all(['', '/map.js', '/map.css', '/state'].map(get))), { source: 'map /feed', text }];
  }

  function logFiles(): Haystack[] {
    return readdirSync(mesh.logDir).map((f) => ({ source: `log ${f}`, text: readFileSync(join(mesh.logDir, f), 'utf8') }));
  }

  /** Every file of the store of record (nats-server's JetStream directory), as bytes read as text. */
  function storeFiles(dir = join(mesh.dir, 'nats', 'jetstream')): Haystack[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? storeFiles(join(dir, e.name)) : [{ source: `jetstream file ${join(dir, e.name).slice(mesh.dir.length + 1)}`, text: readFileSync(join(dir, e.name)).toString('latin1') }],
    );
  }

  /** What the members' long-lived processes show to anyone who can read /proc: their command line and environment. */
  function processIdentity(): Haystack[] {
    return [...mesh.members.values()].flatMap((m) => ['cmdline', 'environ'].map((f) => ({ source: `/proc of member ${m.name} (${f})`, text: readFileSync(`/proc/${m.process!.pid}/${f}`).toString('utf8').replace(/\0/g, ' ') })));
  }

  it('finds none of the run’s secrets anywhere it looked, and looked at real traffic', async () => {
    const tokens = mesh.tokens.map((t) => splitEnrollToken(t).token);
    expect(tokens).toHaveLength(3); // one single-use token per member
    const secrets: Secret[] = [
      ...secretsInStateDir(mesh.dir),
      ...tokens.flatMap((t, i) => [
        { label: `pre-auth token ${i}`, value: t },
        { label: `pre-auth token ${i} (without prefix)`, value: t.slice(4) },
      ]),
      { label: 'the Redis password', value: mesh.redisPassword },
    ];
    // What we look for: 4 WireGuard keys (5 encodings each), 4 account/operator seeds + the registry's and 3 members' user seeds (each twice: .nk and .creds).
    expect(secrets.filter((s) => s.label.includes('WireGuard'))).toHaveLength(4 * 5);
    expect(secrets.filter((s) => s.label.includes('NATS seed')).length).toBeGreaterThanOrEqual(4 + 1 + 3);

    const redis = await redisDump();
    const map = await mapHaystacks();
    const haystacks: Haystack[] = [
      ...map,
      ...nats.map((line, i) => ({ source: `nats message ${i} ${(JSON.parse(line.slice(NATS_TAP_PREFIX.length)) as { subject: string }).subject}`, text: line })),
      ...redis,
      ...logFiles(),
      ...spans.map((line, i) => ({ source: `span ${i}`, text: line })),
      ...storeFiles(),
      ...processIdentity(),
    ];
    // It saw the run: enrolment requests (with proofs, not tokens), peer events, the peer table, logs, spans.
    const subjects = nats.map((l) => (JSON.parse(l.slice(NATS_TAP_PREFIX.length)) as { subject: string }).subject);
    expect(subjects.filter((s) => s === `wgmesh.v1.${MESH.name}.enroll`)).toHaveLength(3);
    expect(subjects).toContain(`wgmesh.v1.${MESH.name}.peers.events`);
    expect(subjects.some((s) => s.startsWith('_INBOX.'))).toBe(true);
    expect(redis.map((h) => h.source).join('\n')).toMatch(/wgmesh:lab:peers/);
    // The store of record's writes went by on NATS (KV subjects) and to disk: tokens, members.
    expect(subjects.filter((s) => s.startsWith(`$KV.wgmesh-${MESH.name}.tokens.`)).length).toBeGreaterThanOrEqual(6); // created, then used
    expect(subjects.filter((s) => s.startsWith(`$KV.wgmesh-${MESH.name}.members.`)).length).toBeGreaterThanOrEqual(3);
    expect(storeFiles().length).toBeGreaterThan(0);
    // The token files were read once and removed after the enrolment.
    for (const n of ['a', 'b', 'c']) expect(existsSync(mesh.tokenFile(n))).toBe(false);
    expect(logFiles().map((h) => h.source)).toEqual(expect.arrayContaining(['log registry.log', 'log member-a.log', 'log nats-server.log']));
    expect(spans.length).toBeGreaterThan(10);
    for (const h of map.filter((m) => m.source === 'map /state' || m.source === 'map /feed')) expect(h.text).toMatch(/"name":"c".*"reason":"direct: /);
    report(`scanned ${nats.length} NATS messages, ${redis.length} Redis keys, ${logFiles().length} log files, ${spans.length} spans, ${storeFiles().length} store files, ${processIdentity().length} /proc entries, the map (${map.map((h) => `${h.source} ${h.text.length} B`).join(', ')}) for ${secrets.length} secrets`);

    // The scan finds what it looks for (the control): the secrets are right where they are kept.
    const control = scanForSecrets([{ source: 'member a private.key', text: readFileSync(join(mesh.member('a').stateDir, 'private.key'), 'utf8') }, { source: 'the token', text: mesh.tokens[0] }], secrets);
    expect(control.map((f) => f.source)).toEqual(expect.arrayContaining(['member a private.key', 'the token']));

    const findings = scanForSecrets(haystacks, secrets);
    if (findings.length) report(`found:\n${describeFindings(findings)}`);
    expect(describeFindings(findings)).toBe('');
  });
});
