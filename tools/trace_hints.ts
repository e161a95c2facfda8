/**
 * Where to look when two traces part: for each quantity, what the computation does to make it from
 * the one before it (the ReLU's backward between mlp_fc2's and mlp_fc1's gradients, Adam's update
 * between the gradients and the new weights, …). The table is microgpt.py's algorithm, read
 * backwards from each quantity a trace holds.
 *
 * @example The hint for a gradient that parts after the one before it agreed
 * ```ts
 * import { hint } from "./trace_hints.ts";
 * console.log(hint({ record: "step", key: "grad:layer0.mlp_fc1", kind: "grad", what: "" }, undefined));
 * ```
 *
 * @module
 */

import { type Quantity, where } from "./trace_compare.ts";

const RMSNORM = "RMSNorm: ms = Σ x²/n, scale = (ms + 1e-5)^−0.5, each x times scale (no gain, " +
  "no mean subtracted)";

/** What the computation does to make a quantity from the one before it, by the quantity's key. */
const HINTS: Record<string, string> = {
  "shuffle": "the shuffle: random.seed(seed), then random.shuffle (Fisher–Yates from the last " +
    "element, each index drawn by _randbelow's rejection sampling of getrandbits)",
  "init:shapes": "the model's shape: wte (vocab × n_embd), wpe (block_size × n_embd), lm_head, " +
    "then per layer attn_wq, attn_wk, attn_wv, attn_wo, mlp_fc1 (4·n_embd × n_embd), mlp_fc2",
  "init": "the initial weights: the order of the init draws (matrix by matrix in state_dict " +
    "order, each row left to right, after the shuffle's draws), or random.gauss (Box–Muller: " +
    "two deviates from two random() calls, the second kept for the next call), or init std",
  "init:sumsq": "the sum of squares itself: row-major, left to right, s = s + w·w from 0.0",
  "doc": "the document order: docs[step % len(docs)] after the shuffle",
  "tokens": "the tokenizer: ids of the sorted unique characters, BOS = len(chars) at both ends, " +
    "cut to block_size + 1 tokens",
  "forward:tokens": "the position's token and target: tokens[pos] and tokens[pos + 1]",
  "forward:embedding": "the embedding: wte[token] + wpe[pos], element by element (and the " +
    "weights it reads: the previous step's update)",
  "forward:norm": RMSNORM,
  "forward:norm_attn": `${RMSNORM}; each block norms its input again`,
  "forward:q": "the query projection with attn_wq: out[i] = Σ_j W[i][j]·x[j], W stored as " +
    "rows × cols = out × in",
  "forward:k": "the key projection with attn_wk (q agrees)",
  "forward:v": "the value projection with attn_wv (k agrees)",
  "forward:attn": "the attention weights: per head, q·k over the head's slice divided by " +
    "√head_dim, then softmax over positions 0…pos; the KV cache holds every earlier key",
  "forward:heads_out": "the heads' outputs: Σ_t weight_t·v_t[j] over the head's slice, heads " +
    "concatenated in order",
  "forward:attn_out": "attn_wo's projection of the heads' outputs, plus the residual (the " +
    "block's input, before its RMSNorm)",
  "forward:norm_mlp": RMSNORM,
  "forward:mlp_hidden": "mlp_fc1's projection, then the ReLU max(0, x)",
  "forward:mlp_out": "mlp_fc2's projection, plus the residual (the attention block's output)",
  "forward:logits": "lm_head's projection of the last layer's output (microgpt.py has no final " +
    "norm)",
  "forward:prob": "the softmax of the logits: subtract the largest, exp, divide by the total",
  "loss": "the loss: −log p(target) at each position, averaged as (1/n)·Σ with n = " +
    "min(block_size, len(tokens) − 1)",
  "loss:undetailed": "this step's forward pass or its loss; trace this step's forward pass " +
    "(--trace-detail) in both runs to see which stage",
  "grad:lm_head": "the softmax/cross-entropy backward (∂loss/∂logit = (p − onehot(target))/n " +
    "at each position) and lm_head's linear backward (∂W[i][j] += ∂out[i]·x[j])",
  "grad:mlp_fc2": "the gradient reaching the layer's output (from lm_head, or from the layer " +
    "above through its RMSNorm and the residual), then mlp_fc2's linear backward",
  "grad:mlp_fc1": "the ReLU's backward (the gradient passes where the input was > 0, else 0), " +
    "then mlp_fc1's linear backward",
  "grad:attn_wo": "the backward of the RMSNorm before the MLP (its scale depends on every x), " +
    "plus the residual's gradient, into the attention block's output, then attn_wo's backward",
  "grad:attn_wv": "the backward of the weighted sum of values: ∂v_t[j] += weight_t·∂out[j], for " +
    "every position t the KV cache held",
  "grad:attn_wk": "the attention softmax's backward and the 1/√head_dim scale: the gradient " +
    "reaching the attention logits, then the keys (∂k_t += ∂logit_t·q/√head_dim)",
  "grad:attn_wq": "the attention logits' backward towards the query: ∂q += Σ_t ∂logit_t·k_t / " +
    "√head_dim",
  "grad:wpe": "the backward through the RMSNorm before the first block, the residual stream, and " +
    "the RMSNorm right after the embedding (not redundant: its backward mixes the gradient " +
    "across x); wpe's row pos gets position pos's gradient",
  "grad:wte": "the embedding's backward: wte's row for a token gets the gradient of every " +
    "position that read it (a repeated token, the sum), rows not read get 0",
  "lr": "the learning-rate decay: learning_rate·(1 − step/num_steps), step from 0, float " +
    "division",
  "weights": "Adam's update: m = β1·m + (1 − β1)·g, v = β2·v + (1 − β2)·g², bias correction " +
    "m/(1 − β1^(step+1)) and v/(1 − β2^(step+1)), the learning-rate decay, eps added to √v̂ " +
    "(outside the root); and every gradient reset to 0 after the update",
  "sample:token": "the draw: random.choices over the probabilities (cumulative weights, " +
    "bisect on random()·total), or the random stream's position (every draw since the seed " +
    "counts: shuffle, init, earlier samples), or the distribution it draws from",
  "sample:prob": "the sampling forward pass: logits / temperature, softmax; the KV cache starts " +
    "empty for each sample",
  "sample:text": "turning tokens into text: uchars[token]; BOS ends a sample and is not printed",
};

/** The hint for a divergent quantity, given the last one that agreed. */
export function hint(q: Quantity, previous: Quantity | undefined): string {
  if (q.key.startsWith("grad:layer")) return HINTS[`grad:${q.key.replace(/^grad:layer\d+\./, "")}`];
  if (q.key.startsWith("grad:") && HINTS[q.key] === undefined) {
    return "the backward pass between these two matrices";
  }
  if (q.key === "forward:norm_attn" && q.layer !== undefined && q.layer > 0) {
    return `${RMSNORM}, of the previous layer's output`;
  }
  if (q.record === "sample" && q.pos === 0 && q.sample! > 0 && previous?.record === "sample") {
    return "every earlier sample agrees and this one's first draw does not: the KV cache must " +
      "start empty for each sample (keys and values reset), and pos_id from 0";
  }
  if (q.key === "forward:embedding" && q.step! > 0 && previous?.kind === "weights") {
    return "the weights after the previous step agree (as sums of squares) but the embedding " +
      "does not: the lookup wte[token] + wpe[pos], or a difference the sums hide";
  }
  return HINTS[q.key] ?? "the computation between them";
}

/** Where a quantity is, as a list of parts ("step 3", "position 2", …). */
function whereParts(q: Quantity): string[] {
  const at = where(q);
  return at === "" ? [] : at.split(", ");
}

/** How a divergence names a quantity beside its neighbour: with the parts of its location that
 * the neighbour does not share ("the attention weights (head 1)"). */
export function nameBeside(q: Quantity, other: Quantity): string {
  const what = q.key.startsWith("grad:")
    ? `${q.matrix}'s gradient`
    : q.key === "weights"
    ? `${q.matrix}'s weights after the update`
    : q.what;
  const shared = new Set(whereParts(other));
  const own = whereParts(q).filter((part) => !shared.has(part));
  return own.length === 0 ? what : `${what} (${own.join(", ")})`;
}
