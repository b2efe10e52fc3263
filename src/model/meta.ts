// Reading metadata off objects whose shape nothing has checked (watch events, API answers,
// files): every field is read as what it should be, or undefined.
import { isRecord } from './parse.ts';

export interface ObjectMetaView {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  /** Set once deletion has begun. */
  deletionTimestamp?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
}

const text = (value: unknown) => (typeof value === 'string' ? value : undefined);

function strings(value: unknown): Record<string, string> | undefined {
  if (!isRecord(value)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** The metadata of `object`, each field only when it has the right type. */
export function metaOf(object: unknown): ObjectMetaView {
  const meta = isRecord(object) && isRecord(object.metadata) ? object.metadata : {};
  const view: ObjectMetaView = {};
  const name = text(meta.name);
  if (name !== undefined) view.name = name;
  const namespace = text(meta.namespace);
  if (namespace !== undefined) view.namespace = namespace;
  const uid = text(meta.uid);
  if (uid !== undefined) view.uid = uid;
  const resourceVersion = text(meta.resourceVersion);
  if (resourceVersion !== undefined) view.resourceVersion = resourceVersion;
  if (typeof meta.generation === 'number') view.generation = meta.generation;
  const deletionTimestamp = text(meta.deletionTimestamp);
  if (deletionTimestamp !== undefined) view.deletionTimestamp = deletionTimestamp;
  const annotations = strings(meta.annotations);
  if (annotations) view.annotations = annotations;
  const labels = strings(meta.labels);
  if (labels) view.labels = labels;
  return view;
}
