/**
 * The configured labels of targets and domains on their series: every series of one kind
 * carries the same label names (Prometheus wants that within a metric), so the names are the
 * union over all entries, empty where an entry has none; a name clashing with one of ours
 * gets a `label_` prefix.
 */
import { Gauge, type Registry } from 'prom-client';

export interface ConfiguredLabels {
  /** Label names as on the series, sorted by configured name. */
  names: string[];
  /** One entry's values under those names. */
  values(labels: Record<string, string>): Record<string, string>;
}

export function configuredLabels(entries: ReadonlyArray<{ labels: Record<string, string> }>, reserved: ReadonlySet<string>): ConfiguredLabels {
  const keys = [...new Set(entries.flatMap((e) => Object.keys(e.labels)))].sort();
  const rename = (k: string) => labelName(k, reserved);
  return {
    names: keys.map(rename),
    values: (labels) => Object.fromEntries(keys.map((k) => [rename(k), labels[k] ?? ''])),
  };
}

/** A configured label name as on the series: prefixed when it clashes with one of ours. */
export function labelName(k: string, reserved: ReadonlySet<string>): string {
  return reserved.has(k) ? `label_${k}` : k;
}

/** Gauges registered in `registry`, each with the `base` labels and its own. */
export function gaugeMaker(registry: Registry, base: readonly string[]) {
  return (name: string, help: string, extra: readonly string[] = []) => new Gauge({ name, help, labelNames: [...base, ...extra], registers: [registry] });
}
