import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { workspaceFiles } from './files';
import { validateDeploy } from './validate';

const ROOT = resolve(__dirname, '../../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const errorsWith = (overrides: Record<string, string | null>) => validateDeploy(workspaceFiles(ROOT, overrides)).errors;

/** A copy of a shipped file with one change; throws when the change no longer applies. */
function change(path: string, from: string | RegExp, to: string): Record<string, string> {
  const text = read(path);
  const out = text.replace(from, to);
  if (out === text) throw new Error(`${path}: "${from}" not found: update this test`);
  return { [path]: out };
}

const REGISTRY = 'deploy/compose/registry.yml';
const REGISTRY_ENV = 'deploy/compose/registry.env.example';
const MEMBER = 'deploy/compose/member.yml';
const K8S_MEMBER = 'deploy/k8s/overlays/member/member.yaml';
const K8S_REGISTRY = 'deploy/k8s/overlays/registry/registry.yaml';
const K8S_HA_B = 'deploy/k8s/overlays/registry-ha/registry-b.yaml';
const K8S_HA_ENV = 'deploy/k8s/overlays/registry-ha/registry-ha.env';

describe('deploy/ as shipped', () => {
  const report = validateDeploy(workspaceFiles(ROOT));

  it('passes every check', () => {
    expect(report.errors).toEqual([]);
  });

  it('checked every compose file, every kustomization and every container', () => {
    expect(report.composeServices).toBe(22); // registry 10 + member 2 + registry-ha 8 + nats-node 2
    expect(report.kustomizations).toEqual(['deploy/k8s/base', 'deploy/k8s/overlays/member', 'deploy/k8s/overlays/member-kernel', 'deploy/k8s/overlays/registry', 'deploy/k8s/overlays/registry-ha']);
    expect(report.objects).toBeGreaterThanOrEqual(20);
    expect(report.containers).toBeGreaterThanOrEqual(24);
  });
});

// Each row: one wrong thing in a copy of the shipped files, and the error it must cause.
const cases: Array<[string, () => Record<string, string | null>, RegExp]> = [
  // compose: options and environment
  ['compose: a misspelt environment variable', () => change(REGISTRY, 'WGMESH_DNS_LISTEN: 0.0.0.0:53', 'WGMESH_DNS_LISTN: 0.0.0.0:53'), /services\.resolver: environment variable WGMESH_DNS_LISTN \(environment\) is not an option of "wgmesh resolver" \(did you mean WGMESH_DNS_LISTEN\?\)/],
  ['compose: a variable of another command', () => change(REGISTRY, 'WGMESH_DNS_LISTEN: 0.0.0.0:53', 'WGMESH_DNS_LISTEN: 0.0.0.0:53\n      WGMESH_REDIS_URLS: x'), /WGMESH_REDIS_URLS .* is not an option of "wgmesh resolver" \(did you mean WGMESH_REDIS_URL\?\)/],
  ['compose: a required option missing', () => change(REGISTRY, '      WGMESH_NODE: registry\n', ''), /services\.hub: "wgmesh dataplane" would refuse to start: missing --node \/ WGMESH_NODE/],
  ['compose: a value the option refuses', () => change(REGISTRY, 'WGMESH_LISTEN_PORT: "51820"', 'WGMESH_LISTEN_PORT: "70000"'), /services\.hub: .*invalid environment variable WGMESH_LISTEN_PORT \(option --listen-port\)/],
  ['compose: an unknown flag in the command', () => change(REGISTRY, 'command: ["peer-discovery", "--mode", "registry"]', 'command: ["peer-discovery", "--mode", "registry", "--wath-interval", "500"]'), /unknown option --wath-interval/],
  ['compose: a command that is not a service', () => change(REGISTRY, 'command: ["resolver"]', 'command: ["resolve"]'), /services\.resolver: runs "wgmesh resolve", which is not a service command/],
  ['compose: a variable missing from the env file', () => change(REGISTRY_ENV, /^PUBLIC_ENDPOINT=.*$/m, ''), /registry\.yml: \$\{PUBLIC_ENDPOINT\} is required/],
  ['compose: the hub address outside the registry address', () => change(REGISTRY_ENV, 'HUB_ADDRESS=10.99.0.1/16', 'HUB_ADDRESS=10.99.0.9/16'), /services\.hub: the hub device's address must be 10\.99\.0\.1\/16/],
  ['compose member: the registry key missing', () => change(MEMBER, /      WGMESH_REGISTRY_KEY: .*\n/, ''), /services\.member: "wgmesh member up" would refuse to start: missing --registry-key/],
  // one-shot set-up (registry init --nats-auth before NATS), run through a shell guard
  ['compose: an unknown flag in the guarded one-shot init', () => change(REGISTRY, 'exec wgmesh registry init --nats-auth', 'exec wgmesh registry init --nats-auht'), /services\.nats-auth: "wgmesh registry init" would refuse to start: .*unknown option --nats-auht/],
  ['compose: a misspelt variable of the one-shot init', () => change(REGISTRY, '      WGMESH_REDIS_URL: redis://wgmesh-registry:${REDIS_PASSWORD:?', '      WGMESH_REDIS_URI: redis://wgmesh-registry:${REDIS_PASSWORD:?'), /services\.nats-auth: environment variable WGMESH_REDIS_URI .* is not an option of "wgmesh registry init" \(did you mean WGMESH_REDIS_URL\?\)/],
  ['compose: the one-shot init restarted like a service', () => change(REGISTRY, '    restart: "no"\n    entrypoint: ["sh"', '    restart: unless-stopped\n    entrypoint: ["sh"'), /services\.nats-auth: "wgmesh registry init" runs once: give it restart: "no" \(or on-failure\), not unless-stopped/],
  ['k8s: the one-shot init as a sidecar', () => change(K8S_REGISTRY, '          image: wgmesh:0.1.0\n          command: ["sh", "-c"', '          image: wgmesh:0.1.0\n          restartPolicy: Always\n          command: ["sh", "-c"'), /initContainer nats-auth: "wgmesh registry init" runs once: make it a plain init container/],
  ['k8s: a service as a plain init container', () => change(K8S_REGISTRY, '        - name: hub\n          image: wgmesh-dataplane:0.1.0\n          restartPolicy: Always\n', '        - name: hub\n          image: wgmesh-dataplane:0.1.0\n'), /initContainer hub: "wgmesh dataplane" is a service that keeps running: as a plain init container it would block the pod/],
  // compose: ports and probes
  ['compose: a published port nothing listens on', () => change(REGISTRY, '"51820:51820/udp"', '"51821:51821/udp"'), /services\.netns: publishes 51821:51821\/udp, but nothing in its network namespace listens on 51821\/udp/],
  ['compose: the WireGuard port not published', () => change(REGISTRY, '      - "51820:51820/udp"                    # WireGuard hub\n', ''), /services\.hub: the WireGuard device listens on UDP 51820 \(--listen-port\), which is not published/],
  ['compose: a port published with the wrong protocol', () => change(REGISTRY, '"3478:3478/udp"', '"3478:3478/tcp"'), /publishes 3478:3478\/tcp, but nothing .* listens on 3478\/tcp/],
  ['compose: ports on a service in another namespace', () => change(REGISTRY, '    command: ["nat-probe", "server"]\n', '    command: ["nat-probe", "server"]\n    ports: ["3479:3479/udp"]\n'), /services\.stun: ports cannot be published with network_mode service:netns/],
  ['compose: two services on one port', () => change(REGISTRY, 'WGMESH_STUN_LISTEN: 0.0.0.0:3478', 'WGMESH_STUN_LISTEN: 0.0.0.0:53'), /0\.0\.0\.0:53\/udp \(--listen\) is also taken by .*services\.resolver/],
  ['compose: a healthcheck on the wrong port', () => change(REGISTRY, 'http://127.0.0.1:9470/ready', 'http://127.0.0.1:9471/ready'), /services\.resolver: healthcheck probe asks port 9471, but the HTTP endpoint listens on 127\.0\.0\.1:9470/],
  ['compose: a healthcheck on the wrong path', () => change(REGISTRY, 'http://127.0.0.1:9472/ready', 'http://127.0.0.1:9472/healthz'), /services\.hub: healthcheck probe asks \/healthz: it must ask \/ready or \/health/],
  ['compose: no healthcheck for a service with an HTTP endpoint', () => change(MEMBER, /    healthcheck:\n      test: \["CMD", "node".*\n(      .*\n)*/, ''), /services\.member: needs a healthcheck asking http:\/\/127\.0\.0\.1:9471\/ready/],
  // compose: structure, images, WireGuard
  ['compose: an unknown key', () => change(REGISTRY, '    init: true\n    restart: unless-stopped\n    sysctls:', '    init: true\n    restrat: unless-stopped\n    sysctls:'), /registry\.yml: services\.netns must NOT have additional properties "restrat"/],
  ['compose: a build target the Dockerfile lacks', () => change(REGISTRY, 'target: wgmesh-dataplane }', 'target: wgmesh-dataplan }'), /build target "wgmesh-dataplan" is not a stage of deploy\/Dockerfile/],
  ['compose: an image tag other than the version', () => change(MEMBER, 'image: wgmesh-dataplane:0.1.0', 'image: wgmesh-dataplane:latest'), /image wgmesh-dataplane:latest: tag it 0\.1\.0/],
  ['compose: an unpinned third-party image', () => change(REGISTRY, 'image: redis:7.4.2-alpine', 'image: redis'), /image redis: pin a version tag/],
  ['compose: the device programmer without NET_ADMIN', () => change(REGISTRY, '    command: ["dataplane"]\n    cap_add: [NET_ADMIN]\n', '    command: ["dataplane"]\n'), /services\.hub: "wgmesh dataplane" \(driver uapi\) configures the network: add the NET_ADMIN capability/],
  ['compose: wireguard-go without /dev/net/tun', () => change(MEMBER, '    devices: ["/dev/net/tun:/dev/net/tun"]\n', ''), /services\.wireguard: wireguard-go opens \/dev\/net\/tun/],
  ['compose: peer-discovery without the UAPI socket directory', () => change(REGISTRY, '    volumes: ["wireguard:/var/run/wireguard", "state:/var/lib/wgmesh:ro"]\n', '    volumes: ["state:/var/lib/wgmesh:ro"]\n'), /services\.peer-discovery: "wgmesh peer-discovery" \(driver uapi\) uses the device's UAPI socket: mount the shared \/var\/run\/wireguard/],
  ['compose: a UAPI directory not shared with wireguard-go', () => change(MEMBER, '    volumes: ["/var/run/wireguard:/var/run/wireguard", "/var/lib/wgmesh:/var/lib/wgmesh"]', '    volumes: ["/run/wg:/var/run/wireguard", "/var/lib/wgmesh:/var/lib/wgmesh"]'), /services\.member: \/var\/run\/wireguard must be the same directory as wireguard-go's/],
  ['compose: a device no wireguard-go creates', () => change(MEMBER, '      WGMESH_DEVICE: wg0', '      WGMESH_DEVICE: wg1'), /services\.member: uses the userspace device wg1 without --create, but no wireguard-go in its network namespace creates wg1/],
  ['compose: the device programmer in the image without WireGuard tools', () => change(REGISTRY, '  hub:\n    <<: *wgmesh-dataplane', '  hub:\n    <<: *wgmesh-dataplane\n    image: wgmesh:0.1.0\n    build: { context: ../.., dockerfile: deploy/Dockerfile, target: wgmesh }'), /services\.hub: "wgmesh dataplane" \(driver uapi\) needs the Debian package iproute2, which image target wgmesh does not install/],
  // Kubernetes: schemas
  ['k8s: an unknown field', () => change(K8S_MEMBER, '          args: ["member", "up"]\n', '          args: ["member", "up"]\n          imagePullPolicyy: Always\n'), /overlays\/member: DaemonSet wgmesh-member: spec\.template\.spec\.containers\[0\]\.imagePullPolicyy: unknown field \(did you mean imagePullPolicy\?\)/],
  ['k8s: an unknown field deep down', () => change(K8S_REGISTRY, 'periodSeconds: 5\n          resources:\n            requests: { cpu: 50m, memory: 128Mi }', 'periodSecond: 5\n          resources:\n            requests: { cpu: 50m, memory: 128Mi }'), /StatefulSet wgmesh-registry: spec\.template\.spec\.initContainers\[4\]\.readinessProbe\.periodSecond: unknown field \(did you mean periodSeconds\?\)/],
  ['k8s HA: a registry setting the ConfigMap lacks', () => change(K8S_HA_B, 'key: b-address }', 'key: c-address }'), /StatefulSet\/wgmesh-registry-b container peer-discovery: env WGMESH_REGISTRY_ADDRESS: ConfigMap wgmesh-registry-ha-\w+ has no key c-address/],
  ['k8s HA: a hub device not at its own registry address', () => change(K8S_HA_ENV, 'b-hub-address=10.99.0.254/16', 'b-hub-address=10.99.0.1/16'), /StatefulSet\/wgmesh-registry-b initContainer hub: the hub device's address must be 10\.99\.0\.254\/16/],
  ['k8s HA: a real value in the NATS authority', () => ({ 'deploy/k8s/overlays/registry-ha/secrets/nats/account.nk': 'SAAB2C3D4E5F6' }), /Secret wgmesh-nats-authority-\w+: key account\.nk holds a value that is not a REPLACE_ME placeholder/],
  ['k8s: a wrong apiVersion', () => change(K8S_MEMBER, 'apiVersion: apps/v1\nkind: DaemonSet', 'apiVersion: apps/v1beta3\nkind: DaemonSet'), /DaemonSet wgmesh-member: no resource of kind DaemonSet in apps\/v1beta3/],
  ['k8s: a wrong kind', () => change(K8S_MEMBER, 'kind: DaemonSet', 'kind: DeamonSet'), /DeamonSet wgmesh-member: no resource of kind DeamonSet in apps\/v1/],
  ['k8s: a missing required field', () => change(K8S_MEMBER, /  selector:\n    matchLabels:\n      app\.kubernetes\.io\/name: wgmesh-member\n/, ''), /DaemonSet wgmesh-member: spec must have required property selector/],
  ['k8s: a value of the wrong type', () => change(K8S_MEMBER, 'containerPort: 51820', 'containerPort: "51820"'), /spec\.template\.spec\.containers\[0\]\.ports\[0\]\.containerPort must be integer/],
  ['k8s: a value outside the enum', () => change(K8S_MEMBER, 'protocol: UDP', 'protocol: QUIC'), /ports\[0\]\.protocol must be equal to one of the allowed values/],
  // Kubernetes: options through ConfigMaps and Secrets
  ['k8s: a misspelt variable in an envFrom ConfigMap', () => change('deploy/k8s/overlays/member/member.env', 'WGMESH_REGISTRY_ENDPOINT=', 'WGMESH_REGISTRY_ENDPIONT='), /container member: environment variable WGMESH_REGISTRY_ENDPIONT \(ConfigMap wgmesh-member-\w+ \(envFrom\)\) is not an option of "wgmesh member up"/],
  ['k8s: a bad value in a ConfigMap', () => change('deploy/k8s/base/mesh.env', 'mesh-cidr=10.99.0.0/16', 'mesh-cidr=10.99.0.0/40'), /invalid environment variable WGMESH_MESH_CIDR/],
  ['k8s: a key the ConfigMap lacks', () => change(K8S_MEMBER, 'key: zone }', 'key: zones }'), /container member: env WGMESH_ZONE: ConfigMap wgmesh-mesh-\w+ has no key zones/],
  ['k8s: a Secret that is not there', () => change(K8S_MEMBER, 'name: wgmesh-member-token', 'name: wgmesh-member-tokens'), /env WGMESH_TOKEN: no Secret wgmesh-member-tokens in the output/],
  ['k8s: a real value in a Secret', () => ({ 'deploy/k8s/overlays/member/secrets/token': 'a2b3c4d5e6f7' }), /Secret wgmesh-member-token-\w+: key token holds a value that is not a REPLACE_ME placeholder/],
  // Kubernetes: probes, ports, resources, WireGuard
  ['k8s: a readiness probe on the wrong path', () => change(K8S_MEMBER, 'path: /ready, port: 9471', 'path: /healthz, port: 9471'), /container member: readiness probe asks \/healthz: it must ask \/ready/],
  ['k8s: a liveness probe on the wrong port', () => change(K8S_REGISTRY, 'httpGet: { host: 127.0.0.1, path: /health, port: 9470 }', 'httpGet: { host: 127.0.0.1, path: /health, port: 9471 }'), /container resolver: liveness probe asks port 9471, but the HTTP endpoint listens on 127\.0\.0\.1:9470/],
  ['k8s: a probe the kubelet cannot reach', () => change(K8S_REGISTRY, 'httpGet: { host: 127.0.0.1, path: /ready, port: 9471 }', 'httpGet: { path: /ready, port: 9471 }'), /container peer-discovery: readiness probe: the HTTP endpoint listens on 127\.0\.0\.1 only/],
  ['k8s: no readiness probe', () => change(K8S_REGISTRY, /          readinessProbe:\n            httpGet: \{ host: 127\.0\.0\.1, path: \/ready, port: 9470 \}\n            periodSeconds: 5\n/, ''), /container resolver: needs a readinessProbe: httpGet \/ready on port 9470/],
  ['k8s: a container port nothing listens on', () => change(K8S_REGISTRY, '{ name: stun, containerPort: 3478, protocol: UDP }', '{ name: stun, containerPort: 3479, protocol: UDP }'), /container stun: declares port 3479\/udp, on which it does not listen/],
  ['k8s: no resource requests', () => change(K8S_REGISTRY, '            requests: { cpu: 20m, memory: 64Mi }\n', ''), /container stun: needs resources\.requests for cpu and memory/],
  ['k8s: the member off the host network', () => change(K8S_MEMBER, '      hostNetwork: true\n', ''), /container member: the WireGuard device listens on UDP 51820: members must reach it from outside, with the source address intact: use hostNetwork/],
  ['k8s: wireguard-go without /dev/net/tun', () => change(K8S_REGISTRY, '            - { name: tun, mountPath: /dev/net/tun }\n', ''), /initContainer wireguard: wireguard-go opens \/dev\/net\/tun/],
  ['k8s: a Service selecting nothing', () => change(K8S_REGISTRY, '  selector:\n    app.kubernetes.io/name: wgmesh-registry\n  ports:', '  selector:\n    app.kubernetes.io/name: wgmesh-registri\n  ports:'), /Service wgmesh-registry: spec\.selector .* selects no pod template/],
  // kustomize
  ['kustomize: a feature the renderer does not have', () => change('deploy/k8s/overlays/member/kustomization.yaml', 'namespace: wgmesh\n', 'namespace: wgmesh\nnamePrefix: x-\n'), /overlays\/member\/kustomization\.yaml: "namePrefix" is not supported by this renderer/],
  ['kustomize: a patch whose test fails', () => change(K8S_MEMBER, /            - \{ name: WGMESH_DEVICE, value: wg0 \}\n/, ''), /member-kernel\/kustomization\.yaml: patches \(inline\): test \/spec\/template\/spec\/containers\/0\/env\/5\/name on DaemonSet wgmesh-member: test failed/],
];

describe('deploy/ with one thing wrong', () => {
  it.each(cases)('%s', (_, overrides, expected) => {
    const errors = errorsWith(overrides());
    expect(errors.some((e) => expected.test(e)) ? expected : errors).toEqual(expected);
  });
});
