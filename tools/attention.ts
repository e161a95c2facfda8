/**
 * `--attention`: attention maps. A head's weights form a triangle (a position sees itself and the
 * past only), so a row per position with one shaded cell per position attended shows it whole.
 *
 * @module
 */

import { argmax } from "../microgpt.ts";

// Attention maps. A head's weights form a triangle (a position sees itself and the past only),
// so a row per position with one shaded cell per position attended shows it whole.

const SHADES = " ░▒▓█";

/** The most positions a map draws: 64 rows of 128 cells, a `--block-size 64` sample whole. A
 * longer sample's map would be too wide to read, and drawing grows with the square of its length;
 * a run keeps only these positions' weights. */
export const ATTENTION_POSITIONS = 64;

/** One head's attention as lines of text: a row per position, labelled with the character read
 * there (<s> for BOS), a cell per position attended (two characters wide, so it looks square),
 * then the column labels and the head's clearest pattern in words. */
export function attentionMap(
  layer: number,
  head: number,
  labels: string[],
  rows: number[][],
): string[] {
  const lines = [`layer ${layer}, head ${head}`];
  for (let t = 0; t < rows.length; t++) {
    let line = labels[t].padStart(3) + " ";
    for (let s = 0; s < rows.length; s++) {
      // Any weight above zero shows at least the lightest shade: a head that spreads itself
      // thin over a long name still draws its triangle.
      const w = s <= t ? rows[t][s] : 0;
      const shade = w > 0 ? Math.min(4, Math.max(1, Math.round(w * 4))) : 0;
      line += SHADES[shade].repeat(2);
    }
    lines.push(line);
  }
  lines.push("    " + labels.map((l) => (l === "<s>" ? "s" : l).padEnd(2)).join("").trimEnd());
  lines.push(describeAttention(rows) ?? "no single pattern");
  return lines;
}

/** The clearest pattern of a head, in words, or undefined: the mean weight, over positions 1…
 * (position 0 can only look at itself), on the previous position, on itself and on the start;
 * the largest wins from 0.5 up. Weights close to uniform are "spread evenly over the past". */
export function describeAttention(rows: number[][]): string | undefined {
  if (rows.length < 2) return undefined;
  const means = [0, 0, 0];
  let excess = 0; // how far the largest weight stands above a uniform 1/(t+1)
  for (let t = 1; t < rows.length; t++) {
    means[0] += rows[t][t - 1] / (rows.length - 1);
    means[1] += rows[t][t] / (rows.length - 1);
    means[2] += rows[t][0] / (rows.length - 1);
    excess += (Math.max(...rows[t]) - 1 / (t + 1)) / (rows.length - 1);
  }
  const best = argmax(means);
  if (means[best] >= 0.5) {
    return ["mostly the previous character", "mostly itself", "mostly the start"][best];
  }
  return excess < 0.15 ? "spread evenly over the past" : undefined;
}

/** Maps side by side, as many as fit in `width` columns, rows of maps apart by an empty line. */
export function sideBySide(maps: string[][], width = 80, gap = 4): string {
  // Each map's width once: measured again for every row, drawing would grow with the cube of a
  // sample's length.
  const widths = maps.map((m) => Math.max(...m.map((l) => [...l].length)));
  const blocks: string[] = [];
  for (let first = 0; first < maps.length;) {
    let end = first + 1;
    let used = widths[first];
    while (end < maps.length && used + gap + widths[end] <= width) used += gap + widths[end++];
    const height = Math.max(...maps.slice(first, end).map((m) => m.length));
    const lines: string[] = [];
    for (let r = 0; r < height; r++) {
      const parts: string[] = [];
      for (let i = first; i < end; i++) parts.push((maps[i][r] ?? "").padEnd(widths[i]));
      lines.push(parts.join(" ".repeat(gap)).trimEnd());
    }
    blocks.push(lines.join("\n"));
    first = end;
  }
  return blocks.join("\n\n") + "\n";
}

/** What `--attention` prints after the first sample: a map per layer and head, side by side.
 * `weights[layer][head][position]` are the weights over the positions so far; `labels` name the
 * positions (the characters read there, `<s>` for BOS). Only the first
 * {@linkcode ATTENTION_POSITIONS} positions are drawn; `positions` says how many the sample read
 * (when the caller kept only those). `stop` is asked between maps: once it holds, the drawing is
 * abandoned and nothing ("") returned. */
export function attentionReport(
  labels: string[],
  weights: number[][][][],
  { positions, stop }: { positions?: number; stop?: () => boolean } = {},
): string {
  const maps: string[][] = [];
  let drawn = 0;
  for (let li = 0; li < weights.length; li++) {
    for (let h = 0; h < weights[li].length; h++) {
      if (stop?.()) return "";
      const rows = weights[li][h].slice(0, ATTENTION_POSITIONS);
      positions = Math.max(positions ?? 0, weights[li][h].length);
      drawn = rows.length;
      maps.push(attentionMap(li, h, labels.slice(0, rows.length), rows));
    }
  }
  const part = (positions ?? 0) > drawn ? ` (its first ${drawn} of ${positions} positions)` : "";
  return `--- attention of sample 1${part}: rows look at columns, darker = more weight ---\n` +
    sideBySide(maps);
}
