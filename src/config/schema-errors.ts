/**
 * The config schema's validation errors as a person reads them: one line per problem, with
 * its path (`targets[2].port: must be <= 65535`) and the rule in words.
 */
import { TypeGuard, type TSchema } from '@sinclair/typebox';
import { Value, type ValueError } from '@sinclair/typebox/value';
import { ConfigSchema } from './schema.js';

/** `/targets/2/port` → `targets[2].port` */
export function displayPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
}

function describe(error: ValueError): string {
  const s = error.schema as TSchema & { anyOf?: TSchema[] };
  if (s.anyOf && s.anyOf.every((v) => TypeGuard.IsLiteral(v))) {
    return `must be one of ${s.anyOf.map((v) => JSON.stringify((v as { const: unknown }).const)).join(', ')}`;
  }
  if (error.message === 'Unexpected property') {
    return /\/labels\/[^/]+$/.test(error.path) ? 'not a valid label name (letters, digits, _; not starting with a digit)' : 'unknown key';
  }
  if (TypeGuard.IsInteger(s) || TypeGuard.IsNumber(s)) {
    const n = s as { minimum?: number; maximum?: number; exclusiveMinimum?: number };
    if (typeof error.value === 'number' && Number.isFinite(error.value)) {
      if (n.maximum !== undefined && error.value > n.maximum) return `must be <= ${n.maximum}`;
      if (n.minimum !== undefined && error.value < n.minimum) return `must be >= ${n.minimum}`;
      if (n.exclusiveMinimum !== undefined && error.value <= n.exclusiveMinimum) return `must be > ${n.exclusiveMinimum}`;
      if (TypeGuard.IsInteger(s)) return 'must be an integer';
    }
  }
  return error.message
    .replace(/^Expected required property$/, 'is required')
    .replace(/^Expected array length to be greater or equal to (\d+)$/, 'must have at least $1 item(s)')
    .replace(/^Expected array length to be less or equal to (\d+)$/, 'must have at most $1 item(s)')
    .replace(/^Expected array elements to be unique$/, 'must not list an item twice')
    .replace(/^Expected string length greater or equal to (\d+)$/, 'must be at least $1 characters')
    .replace(/^Expected string length less or equal to (\d+)$/, 'must be at most $1 characters')
    .replace(/^Expected string to match '(.*)'$/, 'has characters that are not allowed (must match $1)')
    .replace(/^Expected/, 'must be');
}

export function schemaProblems(value: unknown): string[] {
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const error of Value.Errors(ConfigSchema, value)) {
    const path = displayPath(error.path) || '(top level)';
    if (seen.has(path)) continue;
    seen.add(path);
    problems.push(`${path}: ${describe(error)}`);
  }
  return problems;
}
