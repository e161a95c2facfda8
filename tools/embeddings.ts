/**
 * `--embeddings`: the embedding map. Each token's row of wte is a point in nEmbd dimensions; its
 * two directions of greatest spread (principal components) make the flattest faithful picture of
 * the cloud.
 *
 * @module
 */

import { argmax, Tokenizer } from "../microgpt.ts";
import { charLabel } from "./stream.ts";

// The embedding map. Each token's row of wte is a point in nEmbd dimensions; its two directions
// of greatest spread (principal components) make the flattest faithful picture of the cloud.

/** The first `k` principal components of the rows (unit length, orthogonal, the largest entry of
 * each positive so pictures are reproducible), by power iteration on the covariance of the
 * centred rows, removing the components already found; and each row's coordinates on them. */
export function principalComponents(
  rows: number[][],
  k: number,
): { components: number[][]; coords: number[][] } {
  const d = rows[0].length;
  const mean = new Array<number>(d).fill(0);
  for (const row of rows) for (let i = 0; i < d; i++) mean[i] += row[i] / rows.length;
  const centred = rows.map((row) => row.map((x, i) => x - mean[i]));
  const cov = mean.map((_, i) =>
    mean.map((_, j) => dot(centred.map((r) => r[i]), centred.map((r) => r[j])))
  );
  const components: number[][] = [];
  for (let c = 0; c < Math.min(k, d); c++) {
    // Start from a fixed vector; each round multiplies by the covariance, which stretches the
    // vector most along the largest remaining spread, and removes what is already found. With
    // no spread left (all rows alike), any direction perpendicular to the others will do.
    let v = start(d, components);
    for (let round = 0; round < 1000; round++) {
      const w = unit(orthogonal(cov.map((row) => dot(row, v)), components));
      if (w === undefined) break;
      const change = Math.hypot(...w.map((x, i) => x - v[i]));
      v = w;
      if (change < 1e-12) break;
    }
    v = unit(orthogonal(v, components)) ?? start(d, components);
    if (v[argmax(v.map(Math.abs))] < 0) v = v.map((x) => -x);
    components.push(v);
  }
  return { components, coords: centred.map((r) => components.map((u) => dot(r, u))) };
}

/** A fixed unit vector perpendicular to `basis`: a tilted diagonal, else a coordinate axis. */
function start(d: number, basis: number[][]): number[] {
  const candidates = [Array.from({ length: d }, (_, i) => 1 + i / d)];
  for (let i = 0; i < d; i++) {
    candidates.push(Array.from({ length: d }, (_, j) => (i === j ? 1 : 0)));
  }
  for (const v of candidates) {
    const u = unit(orthogonal(v, basis));
    if (u !== undefined) return u;
  }
  throw new Error("no direction is left"); // only past d components, which are never asked for
}

function dot(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** v without its parts along the unit vectors `basis` (twice: once leaves rounding behind). */
function orthogonal(v: number[], basis: number[][]): number[] {
  let w = v;
  for (let pass = 0; pass < 2; pass++) {
    for (const b of basis) {
      const along = dot(w, b);
      w = w.map((x, i) => x - along * b[i]);
    }
  }
  return w;
}

/** v scaled to length 1, or undefined if it is (nearly) zero. */
function unit(v: number[]): number[] | undefined {
  const length = Math.hypot(...v);
  return length > 1e-9 ? v.map((x) => x / length) : undefined;
}

/** Cosine similarity: 1 for vectors pointing the same way, 0 for perpendicular ones. */
export function cosine(a: number[], b: number[]): number {
  const lengths = Math.hypot(...a) * Math.hypot(...b);
  return lengths === 0 ? 0 : dot(a, b) / lengths;
}

/** Labels placed on a framed grid of at most `width` × `height` cells at their points (x to the
 * right, y up); a label whose cell is taken moves to the nearest free one, so all stay visible. */
export function scatterGrid(
  labels: string[],
  points: number[][],
  width = 72,
  height = 24,
): string {
  const grid = Array.from({ length: height }, () => new Array<string>(width).fill(" "));
  const span = (i: number) => {
    const xs = points.map((p) => p[i]);
    const lo = Math.min(...xs);
    return { lo, size: Math.max(...xs) - lo || 1 };
  };
  const [x, y] = [span(0), span(1)];
  labels.forEach((label, p) => {
    const col = Math.round(((points[p][0] - x.lo) / x.size) * (width - 1));
    const row = Math.round(((y.lo + y.size - points[p][1]) / y.size) * (height - 1));
    // Search rings of growing radius for the free cell nearest to (row, col).
    for (let ring = 0; ring < Math.max(width, height); ring++) {
      let best: [number, number] | undefined;
      for (let r = row - ring; r <= row + ring; r++) {
        for (let c = col - ring; c <= col + ring; c++) {
          if (r < 0 || r >= height || c < 0 || c >= width || grid[r][c] !== " ") continue;
          if (Math.max(Math.abs(r - row), Math.abs(c - col)) !== ring) continue;
          const far = (r - row) ** 2 + (c - col) ** 2;
          if (best === undefined || far < (best[0] - row) ** 2 + (best[1] - col) ** 2) {
            best = [r, c];
          }
        }
      }
      if (best !== undefined) {
        grid[best[0]][best[1]] = label;
        return;
      }
    }
  });
  const border = "+" + "-".repeat(width) + "+";
  return [border, ...grid.map((cells) => "|" + cells.join("") + "|"), border].join("\n") + "\n";
}

/** The embedding picture: wte's rows on their two principal components (BOS drawn as "^"), then
 * for each vowel in the vocabulary its three nearest characters by cosine similarity. */
export function embeddingReport(tok: Tokenizer, weights: Float64Array, nEmbd: number): string {
  const rows: number[][] = [];
  for (let t = 0; t < tok.vocabSize; t++) {
    rows.push(Array.from(weights.subarray(t * nEmbd, (t + 1) * nEmbd))); // wte comes first
  }
  const { coords } = principalComponents(rows, 2);
  const labels = [...tok.chars, "^"].map((ch) => (ch === " " ? "_" : charLabel(ch)));
  const points = coords.map((c) => [c[0], c[1] ?? 0]);
  let text = `--- token embeddings (wte) on their first two principal components; ^ is BOS ---\n`;
  text += scatterGrid(labels, points, Math.min(72, Math.max(24, 2 * tok.vocabSize)), 24);
  for (const vowel of "aeiou") {
    const id = tok.id(vowel);
    if (id === undefined) continue;
    const near = rows.map((r, j) => [j, cosine(rows[id], r)]).filter(([j]) => j !== id);
    near.sort((p, q) => q[1] - p[1] || p[0] - q[0]);
    const names = near.slice(0, 3).map(([j, c]) => `${labels[j]} ${c.toFixed(2)}`);
    text += `nearest to ${vowel}: ${names.join(", ")}\n`;
  }
  return text;
}
