/**
 * From a path to plain data, with bounded work: only a regular file is read, up to a size
 * limit (a FIFO or /dev/zero given as --config cannot hang the start), and YAML aliases may not expand the
 * document beyond what a file of that size could hold without them (the "billion laughs").
 */
import YAML, { isAlias, isCollection, isPair, type Document } from 'yaml';
import { readRegularFile, type FileRead } from './read-file.js';

/** A configuration of thousands of targets fits with room to spare. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * Values (scalars and collections) after alias expansion. A file of MAX_CONFIG_BYTES without
 * aliases holds fewer than this (each value takes at least two bytes), so only alias
 * expansion can reach it.
 */
export const MAX_EXPANDED_VALUES = MAX_CONFIG_BYTES;

/** The text of the file, or the problem with reading it. */
export function readConfigText(path: string): FileRead {
  const read = readRegularFile(path, MAX_CONFIG_BYTES);
  if ('text' in read) return read;
  return { problem: /^E[A-Z]+$/.test(read.problem) ? `cannot read the file: ${read.problem}` : read.problem };
}

/**
 * How many values the document holds once every alias is replaced by its anchor's content,
 * computed without expanding: one walk in document order (where an alias refers to the
 * latest anchor of its name before it), each anchored node's size memoised.
 * Infinity for an alias inside the node it refers to (a cycle).
 */
export function expandedValues(doc: Document): number {
  const anchors = new Map<string, unknown>();
  const sizes = new Map<unknown, number>();
  const size = (node: unknown): number => {
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      return target === undefined ? 1 : (sizes.get(target) ?? Infinity);
    }
    if (node === null || typeof node !== 'object') return 1;
    const anchor = (node as { anchor?: string }).anchor;
    if (anchor) anchors.set(anchor, node);
    let n = 1;
    if (isCollection(node)) {
      for (const item of node.items) {
        n += isPair(item) ? size(item.key) + size(item.value) : size(item);
        if (n > MAX_EXPANDED_VALUES) break;
      }
    }
    sizes.set(node, n);
    return n;
  };
  return size(doc.contents);
}

/** The YAML text as plain data, or every problem found (with its line and column). */
export function parseYaml(text: string): { value: unknown } | { problems: string[] } {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    return { problems: doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]!.replace(/:$/, '')}`) };
  }
  const values = expandedValues(doc);
  if (values === Infinity) return { problems: ['YAML: an alias refers to a node that contains it'] };
  if (values > MAX_EXPANDED_VALUES) {
    return {
      problems: [`YAML: aliases expand the document to more than ${MAX_EXPANDED_VALUES} values (an alias bomb?); refused`],
    };
  }
  try {
    // The library's own guard stays on as a second line, generous enough for shared anchors.
    return { value: doc.toJS({ maxAliasCount: 10_000 }) ?? {} };
  } catch (e) {
    // An alias without its anchor, or too many aliases: reported like any other YAML error.
    return { problems: [`YAML: ${(e as Error).message}`] };
  }
}
