import type { Protocol } from './commands';

/**
 * One container of a compose file or a rendered Kubernetes manifest, in the terms the checks
 * need. Compose services and Kubernetes containers are read into this one shape, so every check
 * runs on both.
 */
export interface EnvVar {
  name: string;
  /** The value, when it is known before run time. */
  value?: string;
  /** Why the value is not checked: a marked placeholder, or only known at run time. */
  unchecked?: string;
  /** Where it comes from, for messages (e.g. "ConfigMap wgmesh-mesh key zone"). */
  source: string;
}

export interface Probe {
  kind: 'liveness' | 'readiness' | 'startup' | 'healthcheck';
  /** HTTP probes: the path, port and host asked. */
  http?: { path: string; port: number | null; host?: string };
  text: string;
}

export interface Port {
  port: number;
  protocol: Protocol;
  /** Compose: the host address it is published on. */
  hostIp?: string;
  name?: string;
  text: string;
}

export interface Workload {
  platform: 'compose' | 'kubernetes';
  /** e.g. "deploy/compose/registry.yml services.resolver" */
  where: string;
  image: string;
  /** Compose: the Dockerfile target it is built from. */
  build?: { dockerfile: string; target?: string };
  /** The container's own entrypoint and arguments (compose entrypoint/command, Kubernetes command/args); the image's ENTRYPOINT and CMD fill in what is not given. */
  entrypoint?: string[];
  command?: string[];
  env: EnvVar[];
  /** Containers with the same key share a network namespace. */
  netns: string;
  /** In the host's network namespace. */
  hostNetwork: boolean;
  /** Compose: owns its namespace (not network_mode service:…). */
  ownsNetns: boolean;
  capabilities: Set<string>;
  privileged: boolean;
  /** /dev/net/tun is available. */
  tun: boolean;
  /** mount path → an identity of what is mounted (same identity: same directory). */
  mounts: Map<string, string>;
  /** Compose: published ports. Kubernetes: the container's ports. */
  ports: Port[];
  probes: Probe[];
  /** Kubernetes: resources.requests. */
  requests?: Record<string, unknown>;
  /** Kubernetes: a sidecar (init container with restartPolicy Always) or a plain init container. */
  init?: 'sidecar' | 'init';
  /** Compose: the restart policy ("no" when not given). */
  restart?: string;
}

/** The Debian-style loopback check for a listen host. */
export function isLoopback(host: string | undefined): boolean {
  return host !== undefined && (/^127\./.test(host) || host === '::1' || host === 'localhost');
}

export function isWildcard(host: string | undefined): boolean {
  return host === undefined || host === '0.0.0.0' || host === '::' || host === '';
}

/** "nats:2.10-alpine" → { repo: "nats", name: "nats", tag: "2.10-alpine" }. */
export function parseImage(image: string): { repo: string; name: string; tag?: string; digest?: string } {
  const [withoutDigest, digest] = image.split('@');
  const slash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  const tag = colon > slash ? withoutDigest.slice(colon + 1) : undefined;
  const repo = colon > slash ? withoutDigest.slice(0, colon) : withoutDigest;
  return { repo, name: repo.slice(repo.lastIndexOf('/') + 1), tag, digest };
}

/** The words of a `sh`-like command string (compose `command: "…"`), quotes honoured. */
export function splitCommand(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  let any = false;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = null;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      any = true;
    } else if (/\s/.test(ch)) {
      if (cur || any) out.push(cur);
      cur = '';
      any = false;
    } else cur += ch;
  }
  if (cur || any) out.push(cur);
  return out;
}

/** Placeholders in shipped manifests: a value holding this is never a real key or token. */
export const PLACEHOLDER = 'REPLACE_ME';
