import type { Listener } from './commands';
import { parseImage } from './workload';

/**
 * What the images we do not build listen on, read from their arguments where they take any, so
 * ports published for them are checked like ours. An image not in this table cannot have ports
 * published or declared (add it here with its listeners).
 */
export interface ThirdParty {
  /** Listeners, from the container's arguments (entrypoint + command as given in the manifest). */
  listeners(args: readonly string[]): Listener[];
}

function flagValue(args: readonly string[], names: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    for (const n of names) {
      if (args[i] === n) return args[i + 1];
      if (args[i].startsWith(`${n}=`)) return args[i].slice(n.length + 1);
    }
  }
  return undefined;
}

const tcp = (flag: string, port: number, host = '0.0.0.0', kind: Listener['kind'] = 'other'): Listener => ({ flag, host, port, protocols: ['tcp'], kind });

export const THIRD_PARTY: Record<string, ThirdParty> = {
  // nats-server: -a/--addr, -p/--port (4222), -m/--http_port (monitoring, off by default), --cluster (routes)
  nats: {
    listeners(args) {
      const host = flagValue(args, ['-a', '--addr', '--net']) ?? '0.0.0.0';
      const out = [tcp('port', Number(flagValue(args, ['-p', '--port']) ?? 4222), host)];
      const monitor = flagValue(args, ['-m', '--http_port']);
      if (monitor) out.push(tcp('http_port', Number(monitor), host, 'http'));
      // --cluster nats://<host>:<port>: the routes of a NATS cluster
      const cluster = /^nats:\/\/([^:/]+):(\d+)$/.exec(flagValue(args, ['--cluster']) ?? '');
      if (cluster) out.push(tcp('cluster', Number(cluster[2]), cluster[1]));
      return out;
    },
  },
  // redis-server: --bind (first address), --port (6379)
  redis: {
    listeners(args) {
      const bind = flagValue(args, ['--bind'])?.split(/\s+/)[0] ?? '0.0.0.0';
      return [tcp('port', Number(flagValue(args, ['--port']) ?? 6379), bind)];
    },
  },
  // Jaeger all-in-one (v1): UI and query 16686, OTLP gRPC 4317 and HTTP 4318, collector 14250/14268,
  // admin 14269, sampling 5778; agent UDP 6831/6832.
  'jaegertracing/all-in-one': {
    listeners() {
      return [
        tcp('query', 16686, '0.0.0.0', 'http'),
        tcp('otlp-grpc', 4317),
        tcp('otlp-http', 4318),
        tcp('grpc', 14250),
        tcp('http', 14268),
        tcp('admin', 14269, '0.0.0.0', 'http'),
        tcp('sampling', 5778),
        { flag: 'agent-compact', host: '0.0.0.0', port: 6831, protocols: ['udp'], kind: 'other' },
        { flag: 'agent-binary', host: '0.0.0.0', port: 6832, protocols: ['udp'], kind: 'other' },
      ];
    },
  },
};

export function thirdParty(image: string): ThirdParty | undefined {
  const { repo } = parseImage(image);
  return THIRD_PARTY[repo.replace(/^(docker\.io\/)?(library\/)?/, '')];
}
