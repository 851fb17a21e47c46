import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { workspaceFiles } from './files';
import { applyOp, contentHash, K8sObject, KustomizeError, parseEnvFile, renderKustomization } from './kustomize';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tree(files: Record<string, string>) {
  const root = mkdtempSync(join(tmpdir(), 'wgmesh-kustomize-'));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return workspaceFiles(root);
}

const find = (objects: K8sObject[], kind: string, name?: string) => objects.find((o) => o.kind === kind && (name === undefined || (o.metadata as { name: string }).name.startsWith(name)))!;

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata: { name: app }
spec:
  selector: { matchLabels: { app: a } }
  template:
    metadata: { labels: { app: a } }
    spec:
      containers:
        - name: c
          image: x:1
          env:
            - { name: A, valueFrom: { configMapKeyRef: { name: settings, key: a } } }
            - { name: T, valueFrom: { secretKeyRef: { name: creds, key: token } } }
          envFrom:
            - configMapRef: { name: settings }
      volumes:
        - { name: s, secret: { secretName: creds } }
        - { name: c, configMap: { name: settings } }
        - { name: other, configMap: { name: not-generated } }
`;

describe('kustomize renderer', () => {
  it("computes kustomize's name suffix (Kubernetes' own test vectors)", () => {
    const cm = (data: Record<string, string>) => contentHash({ kind: 'ConfigMap', metadata: { name: '' }, data });
    const secret = (data: Record<string, string>) => contentHash({ kind: 'Secret', metadata: { name: '' }, type: 'my-type', data });
    expect(cm({})).toBe('42745tchd9');
    expect(cm({ one: '' })).toBe('9g67k2htb6');
    expect(cm({ two: '2', one: '', three: '3' })).toBe('f5h7t85m9b');
    expect(secret({})).toBe('t75bgf6ctb');
    expect(secret({ one: '' })).toBe('74bd68bm66');
  });

  it('generates ConfigMaps and Secrets with the suffix, and points every reference at the suffixed names', () => {
    const files = tree({
      'app/kustomization.yaml': 'resources: [deployment.yaml]\nconfigMapGenerator:\n  - name: settings\n    envs: [settings.env]\n    literals: ["b=two=2"]\nsecretGenerator:\n  - name: creds\n    files: [token=token.txt]\n',
      'app/settings.env': '# comment\na=1\n\nquoted="x y"\n',
      'app/token.txt': 'REPLACE_ME',
      'app/deployment.yaml': DEPLOYMENT,
    });
    const out = renderKustomization(files, 'app');
    const cm = find(out, 'ConfigMap');
    const secret = find(out, 'Secret');
    expect(cm.data).toEqual({ a: '1', quoted: 'x y', b: 'two=2' });
    expect((cm.metadata as { name: string }).name).toBe(`settings-${contentHash({ kind: 'ConfigMap', metadata: { name: 'settings' }, data: cm.data })}`);
    expect(secret).toMatchObject({ type: 'Opaque', data: { token: Buffer.from('REPLACE_ME').toString('base64') } });
    const spec = (find(out, 'Deployment').spec as any).template.spec;
    const [cmName, secretName] = [(cm.metadata as any).name, (secret.metadata as any).name];
    expect(spec.containers[0].env.map((e: any) => (e.valueFrom.configMapKeyRef ?? e.valueFrom.secretKeyRef).name)).toEqual([cmName, secretName]);
    expect(spec.containers[0].envFrom[0].configMapRef.name).toBe(cmName);
    expect(spec.volumes.map((v: any) => v.secret?.secretName ?? v.configMap.name)).toEqual([secretName, cmName, 'not-generated']);
    expect(out.map((o) => o.kind)).toEqual(['ConfigMap', 'Secret', 'Deployment']); // kustomize's legacy order
  });

  it('keeps the plain name with disableNameSuffixHash', () => {
    const files = tree({ 'k/kustomization.yaml': 'generatorOptions: { disableNameSuffixHash: true }\nconfigMapGenerator:\n  - { name: plain, literals: [a=1] }\n' });
    expect((find(renderKustomization(files, 'k'), 'ConfigMap').metadata as any).name).toBe('plain');
  });

  it('fixes references from an overlay to a generated object of its base', () => {
    const files = tree({
      'base/kustomization.yaml': 'namespace: ns\nconfigMapGenerator:\n  - { name: settings, literals: [a=1] }\n',
      'overlay/kustomization.yaml': 'namespace: ns\nresources: [../base, deployment.yaml]\n',
      'overlay/deployment.yaml': DEPLOYMENT,
    });
    const out = renderKustomization(files, 'overlay');
    const name = (find(out, 'ConfigMap').metadata as any).name;
    expect(name).toMatch(/^settings-\w{10}$/);
    expect((find(out, 'Deployment').spec as any).template.spec.containers[0].envFrom[0].configMapRef.name).toBe(name);
  });

  it('sets the namespace on namespaced objects only', () => {
    const files = tree({
      'k/kustomization.yaml': 'namespace: mesh\nresources: [objects.yaml]\n',
      'k/objects.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata: { name: mesh }\n---\napiVersion: v1\nkind: Service\nmetadata: { name: s }\nspec: { ports: [{ port: 1 }] }\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: { name: r }\n',
    });
    const out = renderKustomization(files, 'k');
    expect(out.map((o) => [o.kind, (o.metadata as any).namespace])).toEqual([['Namespace', undefined], ['ClusterRole', undefined], ['Service', 'mesh']]);
  });

  it('adds labels to metadata, and to templates and selectors when asked', () => {
    const files = tree({
      'k/kustomization.yaml': 'resources: [deployment.yaml, service.yaml]\nlabels:\n  - pairs: { team: a }\n  - pairs: { tier: t }\n    includeTemplates: true\n  - pairs: { sel: s }\n    includeSelectors: true\n',
      'k/deployment.yaml': DEPLOYMENT,
      'k/service.yaml': 'apiVersion: v1\nkind: Service\nmetadata: { name: s }\nspec: { selector: { app: a }, ports: [{ port: 1 }] }\n',
    });
    const out = renderKustomization(files, 'k');
    const d = find(out, 'Deployment') as any;
    expect(d.metadata.labels).toEqual({ team: 'a', tier: 't', sel: 's' });
    expect(d.spec.template.metadata.labels).toEqual({ app: 'a', tier: 't', sel: 's' });
    expect(d.spec.selector.matchLabels).toEqual({ app: 'a', sel: 's' });
    expect((find(out, 'Service') as any).spec.selector).toEqual({ app: 'a', sel: 's' });
  });

  it('applies JSON 6902 patches to the targets (inline or from a file)', () => {
    const files = tree({
      'k/kustomization.yaml': [
        'resources: [deployment.yaml]',
        'patches:',
        '  - target: { kind: Deployment, name: app }',
        '    patch: |-',
        '      - { op: test, path: /spec/template/spec/containers/0/name, value: c }',
        '      - { op: replace, path: /spec/template/spec/containers/0/image, value: "x:2" }',
        '      - { op: add, path: /spec/template/spec/containers/0/env/-, value: { name: B, value: b } }',
        '      - { op: remove, path: /spec/template/spec/volumes/2 }',
        '  - target: { group: apps, version: v1, kind: Deployment }',
        '    path: more.yaml',
      ].join('\n'),
      'k/more.yaml': '- { op: add, path: /metadata/annotations, value: { a~b: "1" } }\n- { op: copy, from: /metadata/annotations, path: /spec/template/metadata/annotations }\n- { op: move, from: /spec/template/spec/containers/0/envFrom, path: /spec/template/spec/containers/0/envFromMoved }\n',
      'k/deployment.yaml': DEPLOYMENT,
    });
    const d = find(renderKustomization(files, 'k'), 'Deployment') as any;
    const c = d.spec.template.spec.containers[0];
    expect(c.image).toBe('x:2');
    expect(c.env.map((e: any) => e.name)).toEqual(['A', 'T', 'B']);
    expect(d.spec.template.spec.volumes).toHaveLength(2);
    expect(d.spec.template.metadata.annotations).toEqual({ 'a~b': '1' });
    expect(c.envFrom).toBeUndefined();
    expect(c.envFromMoved).toHaveLength(1);
  });

  it('applies RFC 6902 operations and refuses impossible ones', () => {
    const doc = { a: { b: [1, 2, 3] }, 'x/y': 1 } as Record<string, unknown>;
    applyOp(doc, { op: 'add', path: '/a/b/1', value: 9 });
    applyOp(doc, { op: 'remove', path: '/x~1y' });
    expect(doc).toEqual({ a: { b: [1, 9, 2, 3] } });
    expect(() => applyOp(doc, { op: 'remove', path: '/a/b/4' })).toThrow(/past the end/);
    expect(() => applyOp(doc, { op: 'replace', path: '/a/c', value: 1 })).toThrow(/no "c"/);
    expect(() => applyOp(doc, { op: 'test', path: '/a/b/0', value: 2 })).toThrow(/test failed/);
    expect(() => applyOp(doc, { op: 'add', path: 'a', value: 1 })).toThrow(/not a JSON pointer/);
    expect(() => applyOp(doc, { op: 'frobnicate', path: '/a' })).toThrow(/unknown operation/);
  });

  it.each([
    ['a field it does not implement', { 'k/kustomization.yaml': 'images: [{ name: x, newTag: "2" }]\n' }, /"images" is not supported by this renderer/],
    ['a strategic-merge patch', { 'k/kustomization.yaml': 'resources: [d.yaml]\npatches:\n  - patch: "metadata: { name: app }"\n    target: { kind: Deployment }\n', 'k/d.yaml': DEPLOYMENT }, /only JSON 6902 patches/],
    ['a patch that matches nothing', { 'k/kustomization.yaml': 'resources: [d.yaml]\npatches:\n  - patch: "[]"\n    target: { kind: StatefulSet }\n', 'k/d.yaml': DEPLOYMENT }, /matches no resource/],
    ['a remote resource', { 'k/kustomization.yaml': 'resources: [https://example.com/x.yaml]\n' }, /remote resource/],
    ['a cycle', { 'k/kustomization.yaml': 'resources: [../j]\n', 'j/kustomization.yaml': 'resources: [../k]\n' }, /form a cycle/],
    ['an object defined twice', { 'k/kustomization.yaml': 'resources: [d.yaml, e.yaml]\n', 'k/d.yaml': DEPLOYMENT, 'k/e.yaml': DEPLOYMENT }, /Deployment app is defined twice/],
    ['a missing resource file', { 'k/kustomization.yaml': 'resources: [nope.yaml]\n' }, /k\/nope\.yaml: no such file/],
    ['a duplicate generator key', { 'k/kustomization.yaml': 'configMapGenerator:\n  - { name: c, literals: [a=1, a=2] }\n' }, /key "a" is given twice/],
    ['a bad env file line', { 'k/kustomization.yaml': 'configMapGenerator:\n  - { name: c, envs: [x.env] }\n', 'k/x.env': 'just words\n' }, /x\.env:1: "just words" must be KEY=VALUE/],
  ])('refuses %s', (_, files, error) => {
    expect(() => renderKustomization(tree(files as Record<string, string>), 'k')).toThrow(error);
    expect(() => renderKustomization(tree(files as Record<string, string>), 'k')).toThrow(KustomizeError);
  });

  it('reads env files as kustomize does', () => {
    expect(parseEnvFile('# c\nA=1\n\n  C="q y"\nD=\nE=a=b\n', 'f')).toEqual([['A', '1'], ['C', 'q y'], ['D', ''], ['E', 'a=b']]);
    expect(() => parseEnvFile('A=1\nB C=2\n', 'f')).toThrow('f:2: "B C=2" must be KEY=VALUE');
  });
});
