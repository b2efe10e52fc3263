// Reads a Kubernetes List response as a byte stream, handing each element of `items` to the
// caller as soon as it is complete. Read whole, a large list existed three times at once (the
// bytes, the string and the parsed objects, with managedFields the cache never keeps), and
// memory grew with the list. Here one element is held at a time.
//
// This is a splitter, not a JSON parser: it only tracks strings and bracket depth to find
// where each element of the top-level "items" array begins and ends, and leaves the parsing
// to JSON.parse, one element at a time. Everything outside those elements (apiVersion, kind,
// metadata, and any item that is not an object) is kept as the "skeleton" and parsed at the
// end, so malformed input fails exactly as JSON.parse of the whole body would.
//
// It can also leave each item's metadata.managedFields out before parsing (`skipManagedFields`).
// They are most of a chain's bytes as the API server sends it, and JSON.parse of them, and
// the collection of the thousands of small objects it builds, was most of a large chain load
// (BENCHMARKS.md, section 10). The one exception to the rule above: malformed JSON inside
// managedFields that are left out is not reported (their strings and brackets still have to
// balance).

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const NULL = Buffer.from('null');
const METADATA = Buffer.from('metadata');
const MANAGED_FIELDS = Buffer.from('managedFields');

/** Depths inside the List: 1 the List object, 2 its items array, 3 an item, 4 the item's metadata. */
const ITEM_DEPTH = 3;
const METADATA_DEPTH = 4;

export class ListStreamError extends Error {
  override name = 'ListStreamError';
}

export interface ListStreamOptions {
  /**
   * Called with the raw JSON of an item's `"managedFields":...` member (and a comma beside it);
   * when it returns true, the item is parsed without it. Otherwise it is parsed whole.
   */
  skipManagedFields?: (member: Buffer) => boolean;
}

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/**
 * Splits a streamed List into its items (passed to `onItem`, parsed) and the rest, which is
 * returned parsed with `items` holding only elements that were neither objects nor null
 * (none, from a healthy server).
 */
export async function readListStream(
  body: AsyncIterable<Uint8Array>,
  onItem: (item: Record<string, unknown>) => void,
  options: ListStreamOptions = {},
): Promise<Record<string, unknown>> {
  const splitter = new ListSplitter(onItem, options.skipManagedFields);
  for await (const raw of body) splitter.write(Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
  return splitter.end();
}

/**
 * The splitter's state between chunks. `write` copies it into locals for its loop over the
 * chunk's bytes and back after it: in locals V8 keeps it in registers, where the variables of
 * an async function live in its context, read and written on every byte (measurably slower:
 * BENCHMARKS.md, section 10).
 */
class ListSplitter {
  private readonly onItem: (item: Record<string, unknown>) => void;
  private readonly skipManagedFields: ((member: Buffer) => boolean) | undefined;
  private readonly skeleton: Buffer[] = [];
  /** The last bytes of the skeleton, to recognise `"items":` before an array opens. */
  private tail = '';
  private itemParts: Buffer[] = [];
  private depth = 0;
  private inString = false;
  private escaped = false;
  private inItems = false;
  private inItem = false;
  // Where managedFields stand in the current item, in bytes from the item's first byte. Their
  // key is recognised only when it and the "metadata" key before it each lie within one chunk;
  // a key cut by a chunk boundary just leaves that item parsed whole.
  /** Bytes of the current item in earlier chunks. */
  private itemBase = 0;
  /** The last string closed directly in the item was "metadata": an object opening now is its value. */
  private metadataKey = false;
  private inMetadata = false;
  /** Offset of the quote of a "managedFields" string in metadata, until what follows says it is a key. */
  private managedFieldsKey = -1;
  /** Offset of the last comma directly in metadata, or -1 when none since it opened. */
  private lastComma = -1;
  private cutStart = -1;
  private cutEnd = -1;
  private cutting = false;

  constructor(onItem: (item: Record<string, unknown>) => void, skipManagedFields: ((member: Buffer) => boolean) | undefined) {
    this.onItem = onItem;
    this.skipManagedFields = skipManagedFields;
  }

  write(chunk: Buffer): void {
    const look = this.skipManagedFields !== undefined;
    const length = chunk.length;
    let { depth, inString, escaped, inItems, inItem, itemBase, metadataKey, inMetadata, managedFieldsKey, lastComma, cutStart, cutEnd, cutting } = this;
    let from = 0; // start of the part of this chunk not yet handed to skeleton or item
    /** Chunk index of the opening quote of a string that may be a key we look for, or -1. */
    let keyAt = -1;
    /** Deeper than this, only strings and brackets matter (see the fast loop below). */
    let shallow = inItem ? (inMetadata ? METADATA_DEPTH : ITEM_DEPTH) : 2;
    let i = 0;
    while (i < length) {
      if (inString) {
        if (escaped) {
          escaped = false;
          i++;
          continue;
        }
        // To the closing quote, stepping over each escaped byte.
        let byte = chunk[i]!;
        while (byte !== QUOTE) {
          i += byte === BACKSLASH ? 2 : 1;
          if (i >= length) break;
          byte = chunk[i]!;
        }
        if (i >= length) {
          escaped = i > length; // the chunk ended on a backslash: the next one starts escaped
          break;
        }
        inString = false;
        if (keyAt >= 0) {
          // A string directly in the item or its metadata closed within this chunk.
          const keyLength = i - keyAt - 1;
          if (depth === ITEM_DEPTH) metadataKey = keyLength === METADATA.length && chunk.compare(METADATA, 0, METADATA.length, keyAt + 1, i) === 0;
          else if (keyLength === MANAGED_FIELDS.length && chunk.compare(MANAGED_FIELDS, 0, MANAGED_FIELDS.length, keyAt + 1, i) === 0) managedFieldsKey = itemBase + keyAt - from;
          keyAt = -1;
        }
        i++;
        continue;
      }
      if (depth > shallow) {
        // Deep inside a value nothing here looks into (an item's spec, the managedFields being
        // cut): only strings and brackets, until a bracket closes back to the shallow depth,
        // which the full loop below handles. Most of a list's bytes go through here.
        for (; i < length; i++) {
          const byte = chunk[i]!;
          if (byte === QUOTE) {
            i++;
            while (i < length) {
              const inside = chunk[i]!;
              if (inside === QUOTE) break;
              i += inside === BACKSLASH ? 2 : 1;
            }
            if (i >= length) {
              inString = true;
              escaped = i > length;
              break;
            }
          } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) depth++;
          else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
            if (depth - 1 <= shallow) break;
            depth--;
          }
        }
        if (i >= length) break;
      }
      const byte = chunk[i]!;
      if (byte === QUOTE) {
        inString = true;
        managedFieldsKey = -1;
        if (look && inItem && (depth === ITEM_DEPTH || (inMetadata && depth === METADATA_DEPTH && cutStart < 0))) keyAt = i;
        if (depth === ITEM_DEPTH) metadataKey = false;
      } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
        managedFieldsKey = -1;
        if (!inItem && inItems && depth === 2 && byte === OPEN_OBJECT) {
          // An element of items begins: what came before it belongs to the skeleton, and the
          // element leaves a null behind, so the skeleton stays valid JSON around it.
          this.toSkeleton(chunk.subarray(from, i));
          this.toSkeleton(NULL);
          from = i;
          inItem = true;
          shallow = ITEM_DEPTH;
          itemBase = 0;
          metadataKey = inMetadata = cutting = false;
          cutStart = cutEnd = -1;
        } else if (!inItem && depth === 1 && byte === OPEN_ARRAY) {
          this.toSkeleton(chunk.subarray(from, i));
          from = i;
          inItems = /"items"\s*:\s*$/.test(this.tail);
        } else if (inItem && depth === ITEM_DEPTH && metadataKey && byte === OPEN_OBJECT) {
          inMetadata = true;
          shallow = METADATA_DEPTH;
          lastComma = -1;
        }
        if (depth === ITEM_DEPTH) metadataKey = false;
        depth++;
      } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
        managedFieldsKey = -1;
        depth--;
        if (depth < 0) throw new ListStreamError('list response: unbalanced brackets');
        if (inMetadata && depth === ITEM_DEPTH) {
          inMetadata = false;
          shallow = ITEM_DEPTH;
          if (cutting) {
            cutEnd = itemBase + i - from; // `,"managedFields":[...]` or `"managedFields":[...]` before `}`
            cutting = false;
          }
        } else if (inItem && depth === 2) {
          this.itemParts.push(chunk.subarray(from, i + 1));
          from = i + 1;
          inItem = false;
          shallow = 2;
          this.finishItem(cutStart, cutEnd);
        } else if (inItems && depth === 1) {
          inItems = false;
        }
      } else if (inMetadata && depth === METADATA_DEPTH) {
        if (byte === COMMA) {
          const at = itemBase + i - from;
          if (cutting) {
            // With a comma before them the cut keeps this one; as metadata's first member, this one goes.
            cutEnd = cutStart === lastComma ? at : at + 1;
            cutting = false;
          }
          lastComma = at;
          managedFieldsKey = -1;
        } else if (byte === COLON && managedFieldsKey >= 0) {
          cutStart = lastComma >= 0 ? lastComma : managedFieldsKey;
          cutting = true;
          managedFieldsKey = -1;
        } else if (!isWhitespace(byte)) {
          managedFieldsKey = -1;
        }
      }
      i++;
    }
    if (inItem) {
      // A view: it keeps this chunk only until the item ends, in the next chunk or so.
      this.itemParts.push(chunk.subarray(from));
      itemBase += chunk.length - from;
    } else this.toSkeleton(chunk.subarray(from));
    Object.assign(this, { depth, inString, escaped, inItems, inItem, itemBase, metadataKey, inMetadata, managedFieldsKey, lastComma, cutStart, cutEnd, cutting });
  }

  /** The rest of the list, parsed, once the body has ended. */
  end(): Record<string, unknown> {
    if (this.inItem || this.inString || this.depth !== 0) throw new ListStreamError('list response ended before its JSON did');
    const parsed = JSON.parse(Buffer.concat(this.skeleton).toString('utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ListStreamError('list response is not a JSON object');
    const rest = parsed as Record<string, unknown>;
    if (Array.isArray(rest.items)) rest.items = rest.items.filter((item) => item !== null);
    return rest;
  }

  // Copies, not views: a view would keep a whole network chunk alive for a few bytes.
  private toSkeleton(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.skeleton.push(Buffer.from(bytes));
    this.tail = (this.tail + bytes.toString('latin1')).slice(-64);
  }

  private finishItem(cutStart: number, cutEnd: number): void {
    const parts = this.itemParts;
    this.itemParts = [];
    let bytes = parts.length === 1 ? parts[0]! : undefined;
    if (cutEnd > cutStart) {
      // Only the bytes kept are copied together: copying the item whole and then cutting it
      // was most of what a load allocated.
      const member = bytes ? bytes.subarray(cutStart, cutEnd) : Buffer.concat(slices(parts, cutStart, cutEnd));
      if (this.skipManagedFields!(member)) bytes = Buffer.concat([...slices(parts, 0, cutStart), ...slices(parts, cutEnd, Infinity)]);
    }
    bytes ??= Buffer.concat(parts);
    this.onItem(JSON.parse(bytes.toString('utf8')) as Record<string, unknown>);
  }
}

/** Views of the bytes from `start` to `end` (offsets into the parts laid end to end). */
function slices(parts: readonly Buffer[], start: number, end: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const part of parts) {
    const from = Math.max(start - at, 0);
    const to = Math.min(end - at, part.length);
    if (from < to) out.push(part.subarray(from, to));
    at += part.length;
  }
  return out;
}
