import { closest, validateK8sObjects } from './k8s-schema';

const pod = (container: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', labels: { a: 'b' }, annotations: { 'free/form': 'yes' } },
  spec: { containers: [{ name: 'c', image: 'x:1', ...container }], ...extra },
});

describe('Kubernetes objects against the API schemas', () => {
  it('accepts valid objects, including int-or-string ports, quantities and free-form maps', () => {
    expect(
      validateK8sObjects([
        pod({ ports: [{ name: 'http', containerPort: 80 }], livenessProbe: { httpGet: { path: '/health', port: 'http' } }, resources: { requests: { cpu: '10m', memory: 64 } } }, { hostNetwork: true }),
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { any: 'thing' } },
        { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'd' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x:1', restartPolicy: undefined }] } } } },
      ]),
    ).toEqual([]);
  });

  it('finds unknown fields at any depth, with the nearest known name', () => {
    expect(validateK8sObjects([pod({ imagePullPolicyy: 'Always', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'k', optionall: true } } }], zzz: 1 })])).toEqual([
      'Pod p: spec.containers[0].imagePullPolicyy: unknown field (did you mean imagePullPolicy?)',
      'Pod p: spec.containers[0].env[0].valueFrom.secretKeyRef.optionall: unknown field (did you mean optional?)',
      'Pod p: spec.containers[0].zzz: unknown field',
    ]);
    expect(validateK8sObjects([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', lables: {} }, data: {} }])).toEqual(['ConfigMap c: metadata.lables: unknown field (did you mean labels?)']);
  });

  it('refuses unknown apiVersions and kinds, and types that are not resources', () => {
    expect(validateK8sObjects([
      { apiVersion: 'apps/v2', kind: 'Deployment', metadata: { name: 'a' } },
      { apiVersion: 'apps/v1', kind: 'Deploymnet', metadata: { name: 'b' } },
      { apiVersion: 'apps/v1', kind: 'DeploymentSpec', metadata: { name: 'c' } },
      { apiVersion: '../../x', kind: 'Pod' },
      { kind: 'Pod' },
    ])).toEqual([
      'Deployment a: no resource of kind Deployment in apps/v2',
      'Deploymnet b: no resource of kind Deploymnet in apps/v1',
      'DeploymentSpec c: no resource of kind DeploymentSpec in apps/v1',
      'Pod (no name): "../../x" "Pod" is not an apiVersion and a kind',
      'Pod (no name): apiVersion and kind are required',
    ]);
  });

  it('reports missing required fields, wrong types and values outside enums', () => {
    expect(validateK8sObjects([
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: {} } },
      pod({ name: undefined, ports: [{ containerPort: '80', protocol: 'QUIC' }] }),
    ])).toEqual([
      'Deployment d: spec must have required property selector',
      'Pod p: spec.containers[0] must have required property name',
      'Pod p: spec.containers[0].ports[0].containerPort must be integer',
      'Pod p: spec.containers[0].ports[0].protocol must be equal to one of the allowed values (SCTP, TCP, UDP)',
    ]);
  });

  it('suggests only near names', () => {
    expect(closest('imagePullPolicyy', ['image', 'imagePullPolicy'])).toBe('imagePullPolicy');
    expect(closest('zzz', ['image', 'name'])).toBeUndefined();
  });
});
