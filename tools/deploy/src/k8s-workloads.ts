import type { Protocol } from './commands';
import { K8sObject, podSpecs } from './kustomize';
import { EnvVar, Port, Probe, PLACEHOLDER, Workload } from './workload';

/**
 * The containers of rendered Kubernetes objects as workloads: environment variables resolved
 * through the ConfigMaps and Secrets of the same output (a reference to one that is not there,
 * or to a key it lacks, is an error), volumes named by what they are, probes and ports read.
 */
const obj = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const arr = (v: unknown) => (Array.isArray(v) ? (v.map(obj) as Array<Record<string, unknown>>) : []);

export function k8sWorkloads(label: string, objects: readonly K8sObject[]): { workloads: Workload[]; errors: string[] } {
  const errors: string[] = [];
  const workloads: Workload[] = [];
  const byName = (kind: string, ns: unknown, name: unknown) =>
    objects.find((o) => o.kind === kind && obj(o.metadata).name === name && (obj(o.metadata).namespace ?? '') === (ns ?? ''));
  const dataOf = (o: K8sObject): Record<string, string> => {
    if (o.kind === 'Secret') {
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(obj(o.data))) out[k] = Buffer.from(String(v), 'base64').toString('utf8');
      for (const [k, v] of Object.entries(obj(o.stringData))) out[k] = String(v);
      return out;
    }
    return Object.fromEntries(Object.entries(obj(o.data)).map(([k, v]) => [k, String(v)]));
  };

  for (const o of objects) {
    const pod = podSpecs(o)[0];
    if (!pod) continue;
    const ns = obj(o.metadata).namespace;
    const owner = `${label} ${o.kind}/${String(obj(o.metadata).name)}`;
    const volumes = new Map<string, { identity: string; tun: boolean }>();
    for (const v of arr(pod.volumes)) {
      const name = String(v.name);
      const hostPath = obj(v.hostPath);
      let identity = `${Object.keys(v).find((k) => k !== 'name') ?? 'volume'} ${owner}/${name}`;
      if (v.hostPath) identity = `hostPath ${String(hostPath.path)}`;
      else if (v.secret) identity = `secret ${String(obj(v.secret).secretName)}`;
      else if (v.configMap) identity = `configMap ${String(obj(v.configMap).name)}`;
      else if (v.persistentVolumeClaim) identity = `pvc ${String(obj(v.persistentVolumeClaim).claimName)}`;
      volumes.set(name, { identity, tun: v.hostPath !== undefined && hostPath.path === '/dev/net/tun' });
      if (v.secret && !byName('Secret', ns, obj(v.secret).secretName) && obj(v.secret).optional !== true) errors.push(`${owner}: volume ${name}: no Secret ${String(obj(v.secret).secretName)} in the output`);
      if (v.configMap && !byName('ConfigMap', ns, obj(v.configMap).name) && obj(v.configMap).optional !== true) errors.push(`${owner}: volume ${name}: no ConfigMap ${String(obj(v.configMap).name)} in the output`);
    }
    for (const t of arr(obj(o.spec).volumeClaimTemplates)) volumes.set(String(obj(t.metadata).name), { identity: `pvc template ${owner}/${String(obj(t.metadata).name)}`, tun: false });

    const containers = [
      ...arr(pod.initContainers).map((c) => ({ c, init: (c.restartPolicy === 'Always' ? 'sidecar' : 'init') as Workload['init'] })),
      ...arr(pod.containers).map((c) => ({ c, init: undefined })),
    ];
    for (const { c, init } of containers) {
      const where = `${owner} ${init ? 'initContainer' : 'container'} ${String(c.name)}`;
      const fail = (msg: string) => errors.push(`${where}: ${msg}`);
      const env: EnvVar[] = [];
      const push = (name: string, value: string, source: string) => env.push({ name, value, source, unchecked: value.includes(PLACEHOLDER) ? 'a placeholder' : undefined });
      for (const e of arr(c.env)) {
        const name = String(e.name);
        const from = obj(e.valueFrom);
        if (e.value !== undefined) push(name, String(e.value), 'env');
        else if (from.configMapKeyRef || from.secretKeyRef) {
          const kind = from.configMapKeyRef ? 'ConfigMap' : 'Secret';
          const ref = obj(from.configMapKeyRef ?? from.secretKeyRef);
          const source = `${kind} ${String(ref.name)} key ${String(ref.key)}`;
          const target = byName(kind, ns, ref.name);
          const data = target ? dataOf(target) : undefined;
          if (data && String(ref.key) in data) push(name, data[String(ref.key)], source);
          else if (ref.optional === true) env.push({ name, unchecked: `optional, ${source} is missing`, source });
          else fail(`env ${name}: ${target ? `${kind} ${String(ref.name)} has no key ${String(ref.key)}` : `no ${kind} ${String(ref.name)} in the output`}`);
        } else if (from.fieldRef || from.resourceFieldRef) {
          env.push({ name, unchecked: 'known at run time', source: from.fieldRef ? `fieldRef ${String(obj(from.fieldRef).fieldPath)}` : 'resourceFieldRef' });
        } else env.push({ name, value: '', source: 'env' });
      }
      for (const e of arr(c.envFrom)) {
        const kind = e.configMapRef ? 'ConfigMap' : 'Secret';
        const ref = obj(e.configMapRef ?? e.secretRef);
        const target = byName(kind, ns, ref.name);
        if (!target) {
          if (ref.optional !== true) fail(`envFrom: no ${kind} ${String(ref.name)} in the output`);
          continue;
        }
        for (const [k, v] of Object.entries(dataOf(target))) push(`${String(e.prefix ?? '')}${k}`, v, `${kind} ${String(ref.name)} (envFrom)`);
      }

      const mounts = new Map<string, string>();
      let tun = false;
      for (const m of arr(c.volumeMounts)) {
        const v = volumes.get(String(m.name));
        if (!v) {
          fail(`volumeMount ${String(m.name)}: no such volume in the pod`);
          continue;
        }
        mounts.set(String(m.mountPath), `${v.identity}${m.subPath ? `/${String(m.subPath)}` : ''}`);
        if (v.tun && m.mountPath === '/dev/net/tun') tun = true;
      }
      const ports: Port[] = arr(c.ports).map((p) => ({ port: Number(p.containerPort), protocol: String(p.protocol ?? 'TCP').toLowerCase() as Protocol, name: p.name as string | undefined, text: JSON.stringify(p) }));
      const probes: Probe[] = [];
      for (const kind of ['liveness', 'readiness', 'startup'] as const) {
        const p = obj(c[`${kind}Probe`]);
        if (!c[`${kind}Probe`]) continue;
        const http = p.httpGet ? obj(p.httpGet) : null;
        let port: number | null = null;
        if (http) {
          if (typeof http.port === 'number') port = http.port;
          else {
            const named = ports.find((x) => x.name === http.port);
            if (!named) fail(`${kind}Probe: no container port named ${String(http.port)}`);
            port = named?.port ?? null;
          }
        }
        probes.push({ kind, http: http ? { path: String(http.path ?? '/'), port, host: http.host as string | undefined } : undefined, text: JSON.stringify(p) });
      }
      const security = obj(c.securityContext);
      workloads.push({
        platform: 'kubernetes',
        where,
        image: String(c.image ?? ''),
        entrypoint: Array.isArray(c.command) ? c.command.map(String) : undefined,
        command: Array.isArray(c.args) ? c.args.map(String) : undefined,
        env,
        netns: owner,
        hostNetwork: pod.hostNetwork === true,
        ownsNetns: false,
        capabilities: new Set(((obj(security.capabilities).add as unknown[]) ?? []).map((x) => String(x).toUpperCase().replace(/^CAP_/, ''))),
        privileged: security.privileged === true,
        tun: tun || security.privileged === true,
        mounts,
        ports,
        probes,
        requests: obj(obj(c.resources).requests),
        init,
      });
    }
  }
  return { workloads, errors };
}
