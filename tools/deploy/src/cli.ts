import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { workspaceFiles } from './files';
import { KustomizeError, renderKustomization } from './kustomize';
import { validateDeploy } from './validate';

/**
 * `node -r ./bin/register.js tools/deploy/src/cli.ts check`: checks deploy/ (see validate.ts),
 * prints each problem and exits 1 if there is any.
 * `… cli.ts render deploy/k8s/overlays/member`: prints the rendered manifests (what
 * `kubectl kustomize` prints, for the features deploy/k8s uses).
 */
const root = resolve(__dirname, '../../..');
const [verb, dir] = process.argv.slice(2);
const files = workspaceFiles(root);

if (verb === 'render' && dir) {
  try {
    process.stdout.write(renderKustomization(files, dir).map((o) => stringify(o)).join('---\n'));
  } catch (err) {
    if (!(err instanceof KustomizeError)) throw err;
    process.stderr.write(`render: ${err.message}\n`);
    process.exit(1);
  }
} else if (verb === 'check' || verb === undefined) {
  const report = validateDeploy(files);
  for (const e of report.errors) process.stderr.write(`${e}\n`);
  process.stdout.write(
    `deploy: ${report.composeServices} compose services, ${report.kustomizations.length} kustomizations (${report.objects} objects), ${report.containers} containers checked; ${report.errors.length} problems\n`,
  );
  process.exit(report.errors.length ? 1 : 0);
} else {
  process.stderr.write('usage: cli.ts check | render <kustomization dir>\n');
  process.exit(2);
}
