import { posix } from 'node:path';
import { checkWorkloads, Images } from './checks';
import { composeWorkloads, loadCompose } from './compose';
import { DockerfileError, parseDockerfile, Stage } from './dockerfile';
import { FileError, Files } from './files';
import { validateK8sObjects } from './k8s-schema';
import { k8sWorkloads } from './k8s-workloads';
import { K8sObject, KustomizeError, podSpecs, renderKustomization } from './kustomize';
import { PLACEHOLDER, Workload } from './workload';

/**
 * Everything under deploy/, checked offline: the Dockerfile, both compose files (with their
 * example env files), and every kustomization under deploy/k8s rendered and checked against the
 * Kubernetes schemas; then the containers of both against the apps' options (see checks.ts).
 */
export const DOCKERFILE = 'deploy/Dockerfile';
export const COMPOSE = [
  { file: 'deploy/compose/registry.yml', env: 'deploy/compose/registry.env.example' },
  { file: 'deploy/compose/member.yml', env: 'deploy/compose/member.env.example' },
  // several registries (high availability): one registry host, and the third NATS node with the shared Redis
  { file: 'deploy/compose/registry-ha.yml', env: 'deploy/compose/registry-ha.env.example' },
  { file: 'deploy/compose/nats-node.yml', env: 'deploy/compose/nats-node.env.example' },
];
export const K8S_DIR = 'deploy/k8s';

export interface Report {
  errors: string[];
  /** What was checked, for the summary line. */
  composeServices: number;
  kustomizations: string[];
  objects: number;
  containers: number;
}

export function validateDeploy(files: Files): Report {
  const errors: string[] = [];
  const report: Report = { errors, composeServices: 0, kustomizations: [], objects: 0, containers: 0 };
  const guard = <T>(what: () => T): T | undefined => {
    try {
      return what();
    } catch (err) {
      if (err instanceof FileError || err instanceof DockerfileError || err instanceof KustomizeError) {
        errors.push(err.message);
        return undefined;
      }
      throw err;
    }
  };

  const pkg = JSON.parse(files.read('package.json')) as { version: string };
  const stages = guard(() => parseDockerfile(files.read(DOCKERFILE)));
  if (!stages) return report;
  const images: Images = { dockerfiles: new Map<string, Map<string, Stage>>([[DOCKERFILE, stages]]), main: DOCKERFILE, version: pkg.version };
  const workloads: Workload[] = [];

  for (const c of COMPOSE) {
    const file = guard(() => loadCompose(files, c.file, c.env));
    if (!file) continue;
    errors.push(...file.errors);
    const { workloads: ws, errors: e } = composeWorkloads(file);
    errors.push(...e);
    workloads.push(...ws);
    report.composeServices += ws.length;
  }

  for (const dir of kustomizations(files)) {
    const objects = guard(() => renderKustomization(files, dir));
    if (!objects) continue;
    report.kustomizations.push(dir);
    report.objects += objects.length;
    errors.push(...validateK8sObjects(objects).map((e) => `${dir}: ${e}`));
    errors.push(...checkK8sObjects(dir, objects));
    const { workloads: ws, errors: e } = k8sWorkloads(dir, objects);
    errors.push(...e);
    workloads.push(...ws);
  }
  report.containers = workloads.length;
  errors.push(...checkWorkloads(workloads, images));
  return report;
}

/** Every directory under deploy/k8s holding a kustomization. */
export function kustomizations(files: Files, dir = K8S_DIR): string[] {
  const out: string[] = [];
  if (files.exists(posix.join(dir, 'kustomization.yaml'))) out.push(dir);
  for (const name of files.list(dir)) {
    const sub = posix.join(dir, name);
    if (files.isDirectory(sub)) out.push(...kustomizations(files, sub));
  }
  return out;
}

const obj = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** What the schemas cannot see: selectors that select, references that resolve, no real secrets. */
function checkK8sObjects(dir: string, objects: readonly K8sObject[]): string[] {
  const errors: string[] = [];
  const name = (o: K8sObject) => `${dir}: ${String(o.kind)} ${String(obj(o.metadata).name)}`;
  const templates = objects.filter((o) => podSpecs(o).length > 0);
  const templateLabels = (o: K8sObject) => obj(obj(obj(obj(o.spec).template).metadata).labels);
  for (const o of templates) {
    const selector = obj(obj(o.spec).selector).matchLabels;
    if (o.kind === 'Pod' || o.kind === 'CronJob' || o.kind === 'Job') continue;
    for (const [k, v] of Object.entries(obj(selector))) {
      if (templateLabels(o)[k] !== v) errors.push(`${name(o)}: spec.selector.matchLabels ${k}=${String(v)} is not a label of the pod template`);
    }
    if (o.kind === 'StatefulSet') {
      const service = obj(o.spec).serviceName;
      if (service !== undefined && !objects.some((s) => s.kind === 'Service' && obj(s.metadata).name === service)) errors.push(`${name(o)}: serviceName ${String(service)}: no such Service in the output`);
    }
  }
  for (const s of objects.filter((o) => o.kind === 'Service')) {
    const selector = obj(obj(s.spec).selector);
    if (Object.keys(selector).length === 0) continue;
    const selects = templates.some((t) => Object.entries(selector).every(([k, v]) => templateLabels(t)[k] === v));
    if (!selects) errors.push(`${name(s)}: spec.selector ${JSON.stringify(selector)} selects no pod template in the output`);
  }
  for (const s of objects.filter((o) => o.kind === 'Secret')) {
    for (const [k, v] of Object.entries({ ...obj(s.data), ...obj(s.stringData) })) {
      const text = s.data && k in obj(s.data) ? Buffer.from(String(v), 'base64').toString('utf8') : String(v);
      if (!text.includes(PLACEHOLDER)) errors.push(`${name(s)}: key ${k} holds a value that is not a ${PLACEHOLDER} placeholder: never commit real keys or tokens`);
    }
  }
  return errors;
}
