// Graphviz, compiled to WebAssembly (@viz-js/viz), lays out and draws the dot text of
// src/graph/render.ts: the real dot layout with no native binary to install. The module
// (4.9 MB) is loaded only when a picture is asked for, so other commands do not pay for it.
import { UsageError } from './command.ts';

export type PictureFormat = 'svg' | 'png';
export const PICTURE_FORMATS: readonly PictureFormat[] = ['svg', 'png'];

/**
 * PNG would need a rasteriser. @resvg/resvg-js is native code per platform; its WebAssembly
 * build (@resvg/resvg-wasm) loads no fonts by itself, so every label would vanish unless
 * chaingate found and shipped font files, and the CLI's output is text. So PNG is refused
 * with a way out rather than drawn badly.
 */
export const PNG_UNAVAILABLE =
  '-o png is not available: chaingate draws SVG only; use -o svg and convert it, e.g. rsvg-convert -o chains.png chains.svg';

export async function renderPicture(dot: string, format: PictureFormat): Promise<string> {
  if (format === 'png') throw new UsageError(PNG_UNAVAILABLE);
  const { instance } = await import('@viz-js/viz');
  const viz = await instance();
  const result = viz.render(dot, { format: 'svg' });
  if (result.status !== 'success') {
    // Our own dot text failing to lay out is a bug, not bad input: say what Graphviz said.
    throw new Error(`Graphviz could not render the graph: ${result.errors.map((e) => e.message).join('; ')}`);
  }
  return result.output;
}
