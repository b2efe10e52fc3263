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

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const NULL = Buffer.from('null');

export class ListStreamError extends Error {
  override name = 'ListStreamError';
}

/**
 * Splits a streamed List into its items (passed to `onItem`, parsed) and the rest, which is
 * returned parsed with `items` holding only elements that were neither objects nor null
 * (none, from a healthy server).
 */
export async function readListStream(body: AsyncIterable<Uint8Array>, onItem: (item: Record<string, unknown>) => void): Promise<Record<string, unknown>> {
  const skeleton: Buffer[] = [];
  /** The last bytes of the skeleton, to recognise `"items":` before an array opens. */
  let tail = '';
  let itemParts: Buffer[] = [];
  let depth = 0;
  let inString = false;
  let escaped = false;
  let inItems = false;
  let inItem = false;
  // Copies, not views: a view would keep a whole network chunk alive for a few bytes.
  const toSkeleton = (bytes: Buffer) => {
    if (bytes.length === 0) return;
    skeleton.push(Buffer.from(bytes));
    tail = (tail + bytes.toString('latin1')).slice(-64);
  };

  for await (const raw of body) {
    const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    let from = 0; // start of the part of this chunk not yet handed to skeleton or item
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (byte === BACKSLASH) escaped = true;
        else if (byte === QUOTE) inString = false;
        continue;
      }
      if (byte === QUOTE) {
        inString = true;
      } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
        if (!inItem && inItems && depth === 2 && byte === OPEN_OBJECT) {
          // An element of items begins: what came before it belongs to the skeleton, and the
          // element leaves a null behind, so the skeleton stays valid JSON around it.
          toSkeleton(chunk.subarray(from, i));
          toSkeleton(NULL);
          from = i;
          inItem = true;
        } else if (!inItem && depth === 1 && byte === OPEN_ARRAY) {
          toSkeleton(chunk.subarray(from, i));
          from = i;
          inItems = /"items"\s*:\s*$/.test(tail);
        }
        depth++;
      } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
        depth--;
        if (depth < 0) throw new ListStreamError('list response: unbalanced brackets');
        if (inItem && depth === 2) {
          itemParts.push(chunk.subarray(from, i + 1));
          from = i + 1;
          inItem = false;
          const text = (itemParts.length === 1 ? itemParts[0]! : Buffer.concat(itemParts)).toString('utf8');
          itemParts = [];
          onItem(JSON.parse(text) as Record<string, unknown>);
        } else if (inItems && depth === 1) {
          inItems = false;
        }
      }
    }
    if (inItem) itemParts.push(Buffer.from(chunk.subarray(from)));
    else toSkeleton(chunk.subarray(from));
  }
  if (inItem || inString || depth !== 0) throw new ListStreamError('list response ended before its JSON did');
  const parsed = JSON.parse(Buffer.concat(skeleton).toString('utf8')) as unknown;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ListStreamError('list response is not a JSON object');
  const rest = parsed as Record<string, unknown>;
  if (Array.isArray(rest.items)) rest.items = rest.items.filter((item) => item !== null);
  return rest;
}
