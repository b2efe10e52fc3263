// metav1.LabelSelector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist) read the
// way Kubernetes reads it (apimachinery's LabelSelectorAsSelector: same operators, same key
// and value syntax, same errors), and the way kcm v1.11.4 applies a MultiClusterService's
// spec.clusterSelector on top of that (internal/controller/multiclusterservice_controller.go):
// a selector that does not convert selects no ClusterDeployment (the reconcile fails), and
// an empty one selects none either (kcm lists ClusterDeployments only when !selector.Empty()).
// Objects come from the API server unchecked: anything off the schema is "unparsable".
import { isRecord } from './parse.ts';

export type LabelSelectorParse =
  | { ok: true; empty: boolean; matches: (labels: unknown) => boolean }
  | { ok: false; error: string };

interface Requirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values: readonly string[];
}

// apimachinery pkg/api/validate/content: label keys (optional DNS-1123 subdomain prefix) and values.
const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAME_MAX = 63;
const VALUE_MAX = 63;
const PREFIX_MAX = 253;

function keyProblem(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return `invalid label key ${JSON.stringify(key)}`;
  const [prefix, name] = parts.length === 2 ? parts : [undefined, parts[0]!];
  if (prefix !== undefined && (prefix === '' || prefix.length > PREFIX_MAX || !DNS1123_SUBDOMAIN.test(prefix))) {
    return `invalid label key ${JSON.stringify(key)}: bad prefix`;
  }
  if (name === undefined || name === '' || name.length > NAME_MAX || !NAME_PART.test(name)) return `invalid label key ${JSON.stringify(key)}`;
  return undefined;
}

function valueProblem(key: string, value: string): string | undefined {
  return value.length > VALUE_MAX || !VALUE.test(value) ? `invalid label value ${JSON.stringify(value)} for key ${JSON.stringify(key)}` : undefined;
}

function requirement(key: unknown, operator: unknown, values: unknown, where: string): Requirement | string {
  if (typeof key !== 'string') return `${where}.key must be a string`;
  const problem = keyProblem(key);
  if (problem) return `${where}: ${problem}`;
  if (operator !== 'In' && operator !== 'NotIn' && operator !== 'Exists' && operator !== 'DoesNotExist') {
    return `${where}: ${JSON.stringify(operator)} is not a valid label selector operator`;
  }
  if (values !== undefined && values !== null && !Array.isArray(values)) return `${where}.values must be a list`;
  const list = (values ?? []) as unknown[];
  if (!list.every((v): v is string => typeof v === 'string')) return `${where}.values must be strings`;
  if ((operator === 'In' || operator === 'NotIn') && list.length === 0) return `${where}: values can't be empty for ${operator}`;
  if ((operator === 'Exists' || operator === 'DoesNotExist') && list.length > 0) return `${where}: values must be empty for ${operator}`;
  for (const value of list) {
    const bad = valueProblem(key, value);
    if (bad) return `${where}: ${bad}`;
  }
  return { key, operator, values: list };
}

function labelsOf(labels: unknown): Record<string, unknown> {
  return isRecord(labels) ? labels : {};
}

function holds(r: Requirement, labels: Record<string, unknown>): boolean {
  const present = Object.hasOwn(labels, r.key) && typeof labels[r.key] === 'string';
  const value = present ? (labels[r.key] as string) : undefined;
  switch (r.operator) {
    case 'In':
      return present && r.values.includes(value!);
    case 'NotIn':
      return !present || !r.values.includes(value!);
    case 'Exists':
      return present;
    case 'DoesNotExist':
      return !present;
  }
}

/**
 * A metav1.LabelSelector as Kubernetes reads it: `{}` (or absent) is "empty" and matches every
 * label set; an unparsable selector is an error. `matches` takes metadata.labels as found.
 */
export function parseLabelSelector(selector: unknown): LabelSelectorParse {
  if (selector === undefined || selector === null) selector = {};
  if (!isRecord(selector)) return { ok: false, error: 'the selector must be an object' };
  const { matchLabels, matchExpressions } = selector;
  if (matchLabels !== undefined && matchLabels !== null && !isRecord(matchLabels)) return { ok: false, error: 'matchLabels must be an object' };
  if (matchExpressions !== undefined && matchExpressions !== null && !Array.isArray(matchExpressions)) return { ok: false, error: 'matchExpressions must be a list' };
  const requirements: Requirement[] = [];
  for (const [key, value] of Object.entries(matchLabels ?? {})) {
    if (typeof value !== 'string') return { ok: false, error: `matchLabels.${key} must be a string` };
    const r = requirement(key, 'In', [value], `matchLabels.${key}`);
    if (typeof r === 'string') return { ok: false, error: r };
    requirements.push(r);
  }
  const expressions = (matchExpressions ?? []) as unknown[];
  for (let i = 0; i < expressions.length; i++) {
    const entry = expressions[i];
    const where = `matchExpressions[${i}]`;
    if (!isRecord(entry)) return { ok: false, error: `${where} must be an object` };
    const r = requirement(entry.key, entry.operator, entry.values, where);
    if (typeof r === 'string') return { ok: false, error: r };
    requirements.push(r);
  }
  return {
    ok: true,
    empty: requirements.length === 0,
    matches: (labels) => {
      const set = labelsOf(labels);
      return requirements.every((r) => holds(r, set));
    },
  };
}

/**
 * Whether kcm v1.11.4 would select a ClusterDeployment with these labels for a
 * MultiClusterService with this spec.clusterSelector: never for an unparsable or empty selector.
 */
export function clusterSelectorMatcher(selector: unknown): (labels: unknown) => boolean {
  const parsed = parseLabelSelector(selector);
  if (!parsed.ok || parsed.empty) return () => false;
  return parsed.matches;
}
