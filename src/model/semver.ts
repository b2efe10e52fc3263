// Semantic versions as kcm reads them. kcm's sequential walk parses versions with
// github.com/Masterminds/semver/v3 (v3.5.0 in kcm v1.11.4) `NewVersion`, which by default
// *coerces*: a `v` prefix, a missing minor or patch ("1.2", "1") and leading zeros in the
// numeric segments are accepted. chaingate must accept and order exactly what kcm does, or it
// would predict a step kcm does not take; the differential test checks this against the library.

/** Masterminds' MaxVersionLen: longer strings are not versions. */
const MAX_VERSION_LENGTH = 256;
/** The library's loose pattern (coercion on), anchored as its Go regexp is. */
const LOOSE = /^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*))?(\+([0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*))?$/;
const UINT64_MAX = '18446744073709551615';

export interface SemVer {
  /** Decimal digits without leading zeros, so that length-then-text orders them numerically. */
  readonly major: string;
  readonly minor: string;
  readonly patch: string;
  readonly prerelease: string;
  readonly original: string;
}

const cache = new Map<string, SemVer | null>();
const CACHE_LIMIT = 10_000;

/** Parses like Masterminds `semver.NewVersion`; undefined where it returns an error. */
export function parseSemVer(text: string): SemVer | undefined {
  const cached = cache.get(text);
  if (cached !== undefined) return cached ?? undefined;
  const parsed = parse(text);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(text, parsed ?? null);
  return parsed;
}

function parse(text: string): SemVer | undefined {
  if (typeof text !== 'string' || text.length > MAX_VERSION_LENGTH) return undefined;
  const m = LOOSE.exec(text);
  if (!m) return undefined;
  const major = uint64(m[1]!);
  const minor = m[2] ? uint64(m[2].slice(1)) : '0';
  const patch = m[3] ? uint64(m[3].slice(1)) : '0';
  if (major === undefined || minor === undefined || patch === undefined) return undefined;
  const prerelease = m[5] ?? '';
  if (prerelease !== '' && !validPrerelease(prerelease)) return undefined;
  // Build metadata already matched the pattern's identifiers, which is all the library checks.
  return { major, minor, patch, prerelease, original: text };
}

/** strconv.ParseUint(s, 10, 64) on a string of digits: undefined on overflow. */
function uint64(digits: string): string | undefined {
  const trimmed = digits.replace(/^0+(?=\d)/, '');
  if (trimmed.length > UINT64_MAX.length || (trimmed.length === UINT64_MAX.length && trimmed > UINT64_MAX)) return undefined;
  return trimmed;
}

function validPrerelease(prerelease: string): boolean {
  for (const part of prerelease.split('.')) {
    if (part === '') return false;
    if (/^[0-9]+$/.test(part) && part.length > 1 && part[0] === '0') return false;
  }
  return true;
}

function compareDigits(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Masterminds `Version.Compare`: -1, 0 or 1; build metadata is ignored. */
export function compareSemVer(a: SemVer, b: SemVer): number {
  const core = compareDigits(a.major, b.major) || compareDigits(a.minor, b.minor) || compareDigits(a.patch, b.patch);
  if (core !== 0) return core;
  if (a.prerelease === b.prerelease) return 0;
  if (a.prerelease === '') return 1;
  if (b.prerelease === '') return -1;
  const left = a.prerelease.split('.');
  const right = b.prerelease.split('.');
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const d = comparePrereleasePart(left[i] ?? '', right[i] ?? '');
    if (d !== 0) return d;
  }
  return 0;
}

function comparePrereleasePart(s: string, o: string): number {
  if (s === o) return 0;
  if (s === '') return -1;
  if (o === '') return 1;
  const sNumber = numeric(s);
  const oNumber = numeric(o);
  if (sNumber === undefined && oNumber === undefined) return s > o ? 1 : -1;
  if (oNumber === undefined) return -1; // numbers sort before identifiers
  if (sNumber === undefined) return 1;
  return compareDigits(sNumber, oNumber) > 0 ? 1 : -1;
}

function numeric(part: string): string | undefined {
  return /^[0-9]+$/.test(part) ? uint64(part) : undefined;
}

/** Both parse and compare equal (Masterminds `Equal`); false when either is not a version. */
export function semVerEqual(a: string, b: string): boolean {
  const x = parseSemVer(a);
  const y = parseSemVer(b);
  return x !== undefined && y !== undefined && compareSemVer(x, y) === 0;
}
