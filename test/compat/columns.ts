// The four things COMPATIBILITY.md records per kcm release. The e2e admission suite groups
// each release's tests under a describe named by one of these, and `npm run compat` reads a
// column's pass/fail from the tests found under that name in vitest's JSON report.
export const COLUMNS = {
  crds: 'CRDs install',
  chains: 'chains admitted',
  refused: 'upgrade refused with the message',
  status: 'status published',
} as const;

export type Column = (typeof COLUMNS)[keyof typeof COLUMNS];
export const COLUMN_ORDER: readonly Column[] = [COLUMNS.crds, COLUMNS.chains, COLUMNS.refused, COLUMNS.status];

/** The releases the e2e admission suite runs on: `CHAINGATE_KCM_VERSIONS=v1.3.0,v1.10.0`, else `fallback`. */
export function kcmVersionsFromEnv(fallback: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const listed = (env.CHAINGATE_KCM_VERSIONS ?? '')
    .split(/[\s,]+/)
    .map((v) => v.trim())
    .filter(Boolean);
  return listed.length > 0 ? listed : [...fallback];
}
