/**
 * `--gradcheck`: is backward()'s gradient the gradient of the loss? A wrong gradient can still
 * train — Adam divides each step by the gradient's own running size, so a gradient off by a
 * constant factor, or with a wrong sign in one corner, still brings the loss down — and only a
 * direct check finds it. This one compares, on one document at the run's current weights, the
 * derivative of the loss along a random unit direction d as backward() gives it (d·∇L) with
 * central finite differences of the loss itself, (L(w + h·d) − L(w − h·d)) / 2h, at two step
 * sizes. Both ratios must be 1 within {@linkcode GRADCHECK_TOLERANCE}.
 *
 * The direction is drawn from a generator of its own, seeded with the run's seed: the run's
 * generator draws nothing for it, and the same run checks along the same direction.
 *
 * Some weights leave nothing to check, and the check says so rather than blame backward(): where
 * the loss is not a finite number (weights too large: it overflows), or where the gradient along
 * d is so small that the rounding of the loss drowns its finite differences (weights near 0).
 *
 * @example Check the graph engine's gradient at a fresh model's weights
 * ```ts
 * import { DEFAULTS, parseDocs, Random, Tokenizer } from "../microgpt.ts";
 * import { graphEngine, initWeights } from "./engine.ts";
 * import { gradCheck } from "./gradcheck.ts";
 * const tok = new Tokenizer(parseDocs("emma\nava\n"));
 * const weights = initWeights(DEFAULTS, tok.vocabSize, new Random(42));
 * const check = gradCheck(graphEngine, DEFAULTS, tok.vocabSize, weights, tok.encode("emma"));
 * console.log(check.ok, check.ratios);
 * ```
 *
 * @module
 */

import { type Config, Random } from "../microgpt.ts";
import type { Engine } from "./engine.ts";
import { CliError } from "./messages.ts";

/** The two step sizes h of the central differences. Measured on the bundled names (six seeds,
 * fresh and trained weights, three documents each), the ratio's largest distance from 1 is
 * 5.9e-2 at h = 1e-2 and 7.3e-3 at 1e-3 (a step that long crosses a ReLU's kink: the loss is not
 * smooth there), 1.7e-8 at 1e-4, 1.3e-7 at 1e-5 (the rounding of L, divided by a smaller 2h),
 * 9.3e-7 at 1e-6 and 8.1e-6 at 1e-7. */
export const STEP_SIZES: readonly number[] = [1e-4, 1e-5];

/** How far from 1 a ratio may be: some 80 times the largest distance measured at these step
 * sizes, and far below what a wrong gradient gives (a ReLU that passes every gradient: tenths). */
export const GRADCHECK_TOLERANCE = 1e-5;

/** What a check found. */
export interface GradCheck {
  /** The loss at the weights. */
  loss: number;
  /** d·∇L from backward(). */
  analytic: number;
  /** The central difference at each step size. */
  numeric: number[];
  /** numeric / analytic at each step size. */
  ratios: number[];
  /** Whether every ratio is within the tolerance of 1. */
  ok: boolean;
}

/** A unit vector of `n` Gaussian entries, drawn from a generator of its own. */
export function direction(n: number, seed: bigint | number): Float64Array {
  const rng = new Random(seed);
  const d = new Float64Array(n);
  let norm = 0;
  for (let i = 0; i < n; i++) {
    d[i] = rng.gauss(0, 1);
    norm += d[i] * d[i];
  }
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < n; i++) d[i] *= scale;
  return d;
}

/** How small the rounding of the loss must be, against what the tolerance allows: a central
 * difference at step h is blurred by about ε·|L| / 2h (ε the float64 epsilon; measured, it is that
 * size), and a check tells a right gradient from a wrong one only where that blur is well below
 * GRADCHECK_TOLERANCE·|d·∇L|: a quarter of it, here. The default run's d·∇L (2.8e-4, the smallest
 * of a dozen seeds) is 18 times above that bound; initial weights 1e-10 in size are 40,000 times
 * below it. */
const BLUR_SHARE = 0.25;

/** Checks `engine`'s gradient at `weights` on the document `tokens`, along a direction drawn with
 * `cfg.seed`. Throws a CliError (exit 1) when the check cannot decide: the loss is not a finite
 * number at the weights (or a step away), or the gradient along d is too small for a finite
 * difference to measure. */
export function gradCheck(
  engine: Engine,
  cfg: Config,
  vocabSize: number,
  weights: Float64Array,
  tokens: number[],
): GradCheck {
  const d = direction(weights.length, cfg.seed);
  const { loss, grad } = engine.create(cfg, vocabSize, weights).gradient(tokens);
  if (!Number.isFinite(loss)) {
    throw undecided(
      `the loss is not a finite number at these weights (L = ${loss}; the largest weight is ` +
        `${largest(weights).toExponential(2)}): no finite difference can check backward()'s ` +
        `gradient there`,
    );
  }
  let analytic = 0;
  for (let i = 0; i < d.length; i++) analytic += grad[i] * d[i];
  const lossAt = (h: number) => {
    const moved = Float64Array.from(weights, (w, i) => w + h * d[i]);
    const at = engine.create(cfg, vocabSize, moved).loss(tokens);
    if (!Number.isFinite(at)) {
      throw undecided(
        `the loss is not a finite number a step of h = ${Math.abs(h).toExponential(0)} from ` +
          `these weights (L(w ${h < 0 ? "−" : "+"} h·d) = ${at}, L(w) = ${loss}): no finite ` +
          `difference can check backward()'s gradient there`,
      );
    }
    return at;
  };
  const moved = STEP_SIZES.map((h) => [lossAt(h), lossAt(-h)]);
  const numeric = STEP_SIZES.map((h, i) => (moved[i][0] - moved[i][1]) / (2 * h));
  checkMeasurable(loss, moved, analytic, numeric);
  const ratios = numeric.map((x) => (x === analytic ? 1 : x / analytic));
  const ok = ratios.every((r) => Math.abs(r - 1) <= GRADCHECK_TOLERANCE);
  return { loss, analytic, numeric, ratios, ok };
}

/** Refuses to judge a derivative the finite differences cannot measure: where both backward()'s
 * d·∇L and the differences are so small that the rounding of the loss blurs a difference at the
 * smaller step size by more than {@linkcode BLUR_SHARE} of the tolerance. A gradient that is
 * wrong by being 0, or too large, still fails: one of the two is then large. */
function checkMeasurable(loss: number, moved: number[][], analytic: number, numeric: number[]) {
  const h = Math.min(...STEP_SIZES);
  let size = Math.abs(loss);
  for (const pair of moved) for (const l of pair) size = Math.max(size, Math.abs(l));
  const blur = Number.EPSILON * size / (2 * h);
  const derivative = Math.max(Math.abs(analytic), ...numeric.map(Math.abs));
  if (blur <= BLUR_SHARE * GRADCHECK_TOLERANCE * derivative) return;
  throw undecided(
    `the gradient along d is too small for finite differences to measure at these weights ` +
      `(d·∇L = ${analytic.toExponential(2)}, while the rounding of the loss, ` +
      `${loss.toPrecision(4)}, blurs a central difference at h = ${h.toExponential(0)} by ` +
      `about ${blur.toExponential(1)})`,
  );
}

/** The error of a check that cannot decide. */
function undecided(why: string): CliError {
  return new CliError(`the gradient check cannot decide: ${why}`, 1);
}

/** The largest weight in magnitude. */
function largest(weights: Float64Array): number {
  let most = 0;
  for (const w of weights) most = Math.max(most, Math.abs(w));
  return most;
}

/** The report, line by line: what was checked, the three numbers, the ratios, the verdict.
 * `where` says whose weights ("the initial weights", …), `doc` which document. */
export function gradCheckLines(check: GradCheck, where: string, doc: string): string[] {
  const tolerance = GRADCHECK_TOLERANCE.toExponential(0);
  const row = (label: string, x: number) => `  ${label.padEnd(34)}${String(x).padEnd(25)}`;
  const lines = [
    `gradient check at ${where}, on ${doc},`,
    `along a random unit direction d (a central difference is (L(w + h·d) − L(w − h·d)) / 2h):`,
    row("loss L", check.loss).trimEnd(),
    row("d·∇L by backward()", check.analytic).trimEnd(),
  ];
  STEP_SIZES.forEach((h, i) => {
    const ratio = check.ratios[i].toPrecision(10);
    lines.push(
      `${row(`central difference at h = ${h.toExponential(0)}`, check.numeric[i])}` +
        `ratio ${ratio}`,
    );
  });
  lines.push(
    check.ok
      ? `ok: backward()'s gradient agrees with the finite differences (|ratio − 1| ≤ ` +
        `${tolerance} at both step sizes)`
      : `FAILED: backward()'s gradient disagrees with the finite differences (|ratio − 1| > ` +
        `${tolerance}): the backward pass computes something other than the derivative of the ` +
        `loss`,
  );
  return lines;
}
