// ServiceTemplate versions and ServiceSet states, kept small: a watch event leaves only the
// strings decisions read (a template's resolved version; a service's deployed template and
// version), so 10,000 templates cost about what their names do.
import type { DeployedState } from '../model/deployments.ts';
import type { OwnerKind } from '../model/resources.ts';
import { metaOf } from '../model/meta.ts';
import { clusterDeploymentOwner, multiClusterServiceOwner, readServiceSet, resolvedTemplateVersion } from '../model/deployments.ts';

export class TemplateVersions {
  private readonly versions = new Map<string, string>();
  private readonly listeners = new Set<() => void>();

  /** Called after any version is added, changed or removed (published routes depend on them). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  get size(): number {
    return this.versions.size;
  }

  /** Records a ServiceTemplate object; returns false when it cannot be named. */
  set(object: unknown, fallbackNamespace = ''): boolean {
    const meta = metaOf(object);
    const version = resolvedTemplateVersion(object);
    if (!version || meta.name === undefined) return false;
    const namespace = meta.namespace || fallbackNamespace;
    const key = `${namespace}/${meta.name}`;
    if (this.versions.get(key) !== version) {
      this.versions.set(key, version);
      this.changed();
    }
    return true;
  }

  delete(namespace: string, name: string): void {
    if (this.versions.delete(`${namespace}/${name}`)) this.changed();
  }

  get(namespace: string, name: string): string | undefined {
    return this.versions.get(`${namespace}/${name}`);
  }

  has(namespace: string, name: string): boolean {
    return this.versions.has(`${namespace}/${name}`);
  }

  /** After a relist of `namespace` (or of every namespace): drop what the list no longer holds. */
  replaceAll(objects: unknown[], namespace?: string): void {
    const fresh = new TemplateVersions();
    for (const object of objects) fresh.set(object);
    let changed = false;
    for (const [key, version] of this.versions) {
      if ((namespace === undefined || key.startsWith(`${namespace}/`)) && fresh.versions.get(key) !== version) {
        this.versions.delete(key);
        changed = true;
      }
    }
    for (const [key, version] of fresh.versions) {
      if (this.versions.get(key) !== version) {
        this.versions.set(key, version);
        changed = true;
      }
    }
    if (changed) this.changed();
  }
}

export class DeployedServices {
  /** ServiceSet namespace/name -> its owner and deployed services. */
  private readonly sets = new Map<string, ReturnType<typeof readServiceSet> & {}>();
  /** owner -> ServiceSet keys. */
  private readonly byOwner = new Map<string, Set<string>>();

  get size(): number {
    return this.sets.size;
  }

  set(object: unknown): void {
    const meta = metaOf(object);
    if (meta.name === undefined) return;
    const key = `${meta.namespace ?? ''}/${meta.name}`;
    this.deleteKey(key);
    const states = readServiceSet(object);
    if (!states) return;
    this.sets.set(key, states);
    let keys = this.byOwner.get(states.owner);
    if (!keys) this.byOwner.set(states.owner, (keys = new Set()));
    keys.add(key);
  }

  delete(namespace: string, name: string): void {
    this.deleteKey(`${namespace}/${name}`);
  }

  replaceAll(objects: unknown[], namespace?: string): void {
    for (const key of [...this.sets.keys()]) if (namespace === undefined || key.startsWith(`${namespace}/`)) this.deleteKey(key);
    for (const object of objects) this.set(object);
  }

  /** What kcm reports deployed for one service of a ClusterDeployment or MultiClusterService. */
  statesOf(kind: OwnerKind, namespace: string, name: string, service: string): DeployedState[] {
    const owner = kind === 'MultiClusterService' ? multiClusterServiceOwner(name) : clusterDeploymentOwner(namespace, name);
    const states: DeployedState[] = [];
    for (const key of this.byOwner.get(owner) ?? []) {
      const state = this.sets.get(key)?.deployed.get(service);
      if (state) states.push(state);
    }
    return states;
  }

  private deleteKey(key: string): void {
    const previous = this.sets.get(key);
    if (!previous) return;
    this.sets.delete(key);
    const keys = this.byOwner.get(previous.owner);
    keys?.delete(key);
    if (keys?.size === 0) this.byOwner.delete(previous.owner);
  }
}
