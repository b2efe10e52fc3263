// What /readyz reports: each part of the process that must be ready says so. Beneath every
// adapter (kube caches, certificates, controller), as controller-runtime's pkg/healthz is.

export interface ReadinessCheck {
  /** Said on /readyz while not ready, e.g. "chain cache not synced". */
  name: string;
  ready(): boolean;
}

/** The names of the checks that are not ready now (empty: ready). */
export function notReady(checks: readonly ReadinessCheck[]): string[] {
  return checks.filter((check) => !check.ready()).map((check) => check.name);
}
