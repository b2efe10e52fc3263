// The decision flags `serve` and `validate` share, so that the webhook and the offline check are
// told about them in the same words (their --help and README rows come from here).
import { DEFAULT_DECISION_OPTIONS, UNCHAINED_UPGRADES } from '../rules/types.ts';

export const DECISION_FLAGS = {
  'unchained-upgrades': {
    type: 'string',
    arg: 'M',
    values: UNCHAINED_UPGRADES,
    default: 'deny',
    description: 'a template or version change of a service that names no templateChain: refused or allowed',
  },
  'system-namespace': { type: 'string', arg: 'NS', default: DEFAULT_DECISION_OPTIONS.systemNamespace, description: 'where MultiClusterService chains live' },
} as const;
