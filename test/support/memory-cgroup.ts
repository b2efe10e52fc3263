// A memory limit for one process, as a container runtime sets it: a cgroup of its own with
// memory.max (cgroup v2) or memory.limit_in_bytes (v1). Node sizes its heap from that limit
// (half of it), which is what decides whether chaingate fits in the chart's memory limit; a
// process on an unconstrained host sizes its heap from the host's memory instead.
// Needs root and a writable memory controller; without them, createMemoryCgroup returns undefined.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export interface MemoryCgroup {
  /** The file a process writes its pid to in order to join. */
  procsFile: string;
  /** The most memory the group has used (undefined where the kernel does not say). */
  peakBytes(): number | undefined;
  /** Times the kernel killed a process of the group for memory. */
  oomKills(): number;
  remove(): void;
}

const V2_ROOT = '/sys/fs/cgroup';
const V1_ROOT = '/sys/fs/cgroup/memory';

export function createMemoryCgroup(name: string, limitBytes: number): MemoryCgroup | undefined {
  const v2 = readOr(join(V2_ROOT, 'cgroup.controllers'), '').split(/\s+/).includes('memory');
  const root = v2 ? V2_ROOT : existsSync(join(V1_ROOT, 'memory.limit_in_bytes')) ? V1_ROOT : undefined;
  if (!root) return undefined;
  const dir = join(root, name);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, v2 ? 'memory.max' : 'memory.limit_in_bytes'), String(limitBytes));
    // No swap to hide in (v1 without swap accounting has no such file).
    if (v2) writeFileSync(join(dir, 'memory.swap.max'), '0');
  } catch {
    return undefined; // not root, or no such controller here
  }
  return {
    procsFile: join(dir, 'cgroup.procs'),
    peakBytes() {
      const text = readOr(join(dir, v2 ? 'memory.peak' : 'memory.max_usage_in_bytes'), '');
      return text ? Number(text.trim()) : undefined;
    },
    oomKills() {
      const file = v2 ? 'memory.events' : 'memory.oom_control';
      return Number(/oom_kill (\d+)/.exec(readOr(join(dir, file), ''))?.[1] ?? 0);
    },
    remove() {
      try {
        rmdirSync(dir);
      } catch {
        // still has a process in it; the kernel keeps it until that exits
      }
    },
  };
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/** The chart's default memory limit, in bytes ("512Mi" in values.yaml). */
export function chartMemoryLimit(): { text: string; bytes: number } {
  const values = parse(readFileSync(new URL('../../charts/chaingate/values.yaml', import.meta.url), 'utf8')) as { resources: { limits: { memory: string } } };
  const text = values.resources.limits.memory;
  const match = /^(\d+)(Mi|Gi)$/.exec(text);
  if (!match) throw new Error(`charts/chaingate/values.yaml: resources.limits.memory ${text}: expected Mi or Gi`);
  return { text, bytes: Number(match[1]) * 2 ** (match[2] === 'Gi' ? 30 : 20) };
}
