// deploy/kubernetes: the base and every overlay are rendered with kustomize (`kubectl kustomize`,
// as `kubectl apply -k` would) and every object is validated against the Kubernetes OpenAPI
// schemas bundled by the `kubernetes-models` package (types, enums, required fields; it does not
// flag unknown fields). The rendered KPC configuration, with the Deployment's environment
// overrides applied, must load with KPC's own configuration loader.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as models from 'kubernetes-models';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/infra/config/load-config.js';

const KUBERNETES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../deploy/kubernetes');
const TARGETS = ['base', ...readdirSync(join(KUBERNETES_DIR, 'overlays')).map((overlay) => `overlays/${overlay}`)];

interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  [field: string]: unknown;
}

type ModelClass = new (data: KubernetesObject) => { validate(): void };

/** `apps/v1` → models.apps.v1, `policy/v1` → models.policy.v1, `v1` → models.v1. */
function modelFor(object: KubernetesObject): ModelClass {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
  const groupKey = group === '' ? undefined : group!.replace(/\.(\w)/g, (_, c: string) => c.toUpperCase()).replace(/\.k8sIo$/, 'K8sIo');
  const byVersion = (groupKey === undefined ? models : (models as Record<string, unknown>)[groupKey]) as Record<string, Record<string, ModelClass>> | undefined;
  const model = byVersion?.[version!]?.[object.kind];
  if (model === undefined) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  return model;
}

type EnvVar = { name: string; value?: string };

function containerEnv(objects: KubernetesObject[]): EnvVar[] {
  const deployment = objects.find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: Array<{ env?: EnvVar[] }> } } } };
  return deployment.spec.template.spec.containers[0]!.env ?? [];
}

function render(target: string): KubernetesObject[] {
  const output = execFileSync('kubectl', ['kustomize', join(KUBERNETES_DIR, target)], { encoding: 'utf8' });
  return parseAllDocuments(output).map((document) => document.toJSON() as KubernetesObject);
}

describe('kustomize output validates against the Kubernetes schemas', () => {
  it('kubectl has a kustomize that reads these files (v4 or later)', () => {
    const version = execFileSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
    expect(version, 'kubectl kustomize v4+ is needed (the `patches` field); see scripts/ensure-setup.mjs').toMatch(/Kustomize Version: v[4-9]/);
  });

  it.each(TARGETS)('%s', (target) => {
    const objects = render(target);
    expect(objects.map((o) => o.kind).sort()).toEqual(expect.arrayContaining(['ConfigMap', 'Deployment', 'Service']));
    for (const object of objects) {
      const Model = modelFor(object);
      expect(() => new Model(object).validate(), `${target}: ${object.kind} ${object.metadata.name}`).not.toThrow();
    }

    // The configuration KPC will read: the ConfigMap's file plus the literal env values of the Deployment.
    const configMap = objects.find((o) => o.kind === 'ConfigMap') as KubernetesObject & { data: Record<string, string> };
    const deployment = objects.find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: { terminationGracePeriodSeconds: number } } } };
    const env = Object.fromEntries(containerEnv(objects).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
    const config = parseConfig(configMap.data['service-config.yml']!, env, `${target} ConfigMap`);
    // preStop sleeps 5 s; the kubelet must not kill a replica that is still within its graceful shutdown.
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(5 + config.service.gracefulShutdownMs / 1000);
  });

  it('the overlays differ where they say they do', () => {
    const dev = render('overlays/dev');
    const production = render('overlays/production');
    expect(dev.some((o) => o.kind === 'PodDisruptionBudget')).toBe(false);
    expect(production.every((o) => (o.metadata as { namespace?: string }).namespace === 'kpc')).toBe(true);
    expect(containerEnv(production).map((e) => e.name)).toContain('KAA_KPC_TRANSPORTS_MQTT_TCP_PROXY_PROTOCOL');
    expect(containerEnv(dev).map((e) => e.name)).toContain('KAA_KPC_TRANSPORTS_MQTT_TLS_ENABLED');
  });
});
