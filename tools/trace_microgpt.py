#!/usr/bin/env python3
"""Run an unmodified microgpt.py and write its trace (the porters' oracle, trace format 1).

usage: python3 tools/trace_microgpt.py MICROGPT_PY --trace PATH [--steps N] [--trace-detail K,...]

microgpt.py runs with its own constants on ./input.txt of the working directory, and prints
exactly what it prints on its own (stdout, byte for byte). Meanwhile the trace goes to PATH: one
JSON object a line, every number at full precision (PORTING.md, "The trace format", documents it
field by field). `tools/trace_diff.ts` compares it with the trace of a port.

How: the file on disk is never edited. It is parsed with `ast`, a few calls to a tracer object are
inserted into the tree after the statements that make the quantities (the shuffle, gpt's stages,
`loss.backward()`, the Adam loop, the draw of each sampled token), and the tree is compiled and
run. The inserted calls only read `.data` and `.grad` and the script's variables: they draw no
random number and change no computed number. Sums of squares are summed as the TypeScript side
sums them: row-major, left to right, `s = s + g * g` from 0.0.

--steps N     train only the first N steps (default: all of microgpt.py's num_steps); the
              learning rate still decays over num_steps, as in the full run. Sampling then runs
              as microgpt.py runs it, on the model after N steps, and is traced too (its samples
              are the full run's only when N is num_steps).
--trace-detail K,...
              also trace the forward pass, position by position, at these steps (counted from 1,
              as microgpt.py prints them); the first step is always traced in detail.

Python 3.8 or later, standard library only. Bad input gives one `error:` line on stderr and
exit 2; a failure inside microgpt.py gives one `error:` line naming its line, and exit 1.
"""

import ast
import builtins
import hashlib
import json
import math
import os
import re
import sys
import traceback

FORMAT = "microgpt trace"
VERSION = 1
ENGINE = "microgpt.py"

USAGE = (
    "usage: python3 tools/trace_microgpt.py MICROGPT_PY --trace PATH [--steps N] "
    "[--trace-detail K,...]"
)


class UsageError(Exception):
    """Bad input: one line on stderr, exit 2."""


# Characters that reorder or break a line without showing: the bidirectional controls and the
# Unicode line and paragraph separators (the TypeScript side's messages.ts escapes the same).
INVISIBLE = {0x061C, 0x200E, 0x200F, 0x2028, 0x2029} | set(range(0x202A, 0x202F)) | set(
    range(0x2066, 0x206A)
)


def escaped(text):
    """text with every control character written as an escape (\\n, \\x1b, \\u202e): a path or an
    option from the command line must not drive the terminal, or make a message read backwards."""
    out = []
    for ch in text:
        c = ord(ch)
        if ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif c < 0x20 or c == 0x7F:
            out.append("\\x%02x" % c)
        elif 0x80 <= c <= 0x9F or c in INVISIBLE or 0xD800 <= c <= 0xDFFF:
            # (lone surrogates: the bytes of a name that is not UTF-8)
            out.append("\\u%04x" % c)
        else:
            out.append(ch)
    return "".join(out)


def say(line):
    """One line on stderr, escaped."""
    sys.stderr.write(escaped(line) + "\n")


# ------------------------------------------------------------------------------------------------
# The command line


def parse_args(argv):
    """MICROGPT_PY, the trace path, the step limit (None: all) and the detail steps (1-based)."""
    script = None
    trace = None
    steps = None
    asked = []  # the --trace-detail steps, in the order given
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            return None
        name, eq, inline = arg.partition("=")
        if name in ("--trace", "--steps", "--trace-detail"):
            if eq:
                value = inline
            elif i + 1 < len(argv):
                i += 1
                value = argv[i]
            else:
                raise UsageError("%s needs a value" % name)
            if name == "--trace":
                trace = value
            elif name == "--steps":
                steps = parse_count(value, "--steps", 0)
            else:
                for part in value.split(","):
                    asked.append(parse_count(part.strip(), "--trace-detail", 1))
        elif arg.startswith("-") and arg != "-":
            raise UsageError("unknown option %s (%s)" % (arg, USAGE))
        elif script is None:
            script = arg
        else:
            raise UsageError("one microgpt.py at a time: %s and %s (%s)" % (script, arg, USAGE))
        i += 1
    if script is None:
        raise UsageError("name the microgpt.py to run (%s)" % USAGE)
    if trace is None:
        raise UsageError("--trace PATH is needed: where to write the trace (%s)" % USAGE)
    if steps is not None:
        check_detail(asked, steps)
    return script, trace, steps, asked


def check_detail(asked, last):
    """Refuses a --trace-detail step past the run's last step, as the engines do."""
    for k in asked:
        if k > last:
            raise UsageError("--trace-detail %d is past the run's last step, %d" % (k, last))


def parse_count(text, flag, least):
    """A whole number >= least, or a UsageError naming the flag."""
    if not text.isdigit() or not text.isascii():
        raise UsageError("%s takes a whole number, not %r" % (flag, text))
    value = int(text)
    if value < least:
        raise UsageError("%s takes a whole number >= %d, not %d" % (flag, least, value))
    return value


# ------------------------------------------------------------------------------------------------
# Finding the statements to hook. Every hook is required: a file without them is not microgpt.py.


def is_call(node, owner, name):
    """Whether node is the call owner.name(...) (owner None: a plain name(...))."""
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    if owner is None:
        return isinstance(f, ast.Name) and f.id == name
    return (
        isinstance(f, ast.Attribute)
        and f.attr == name
        and isinstance(f.value, ast.Name)
        and f.value.id == owner
    )


def assigns(stmt, name):
    """Whether stmt is `name = ...`."""
    return (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and stmt.targets[0].id == name
    )


def range_loop(stmt, var):
    """Whether stmt is `for var in range(ONE_ARG):`."""
    return (
        isinstance(stmt, ast.For)
        and isinstance(stmt.target, ast.Name)
        and stmt.target.id == var
        and is_call(stmt.iter, None, "range")
        and len(stmt.iter.args) == 1
    )


def find(body, test):
    """Index of the first statement of body that passes test, or None."""
    for i, stmt in enumerate(body):
        if test(stmt):
            return i
    return None


def hook(method, args, at):
    """The statement `__trace__.method(*args)`, located at statement `at` (for error lines)."""
    call = ast.Call(
        func=ast.Attribute(value=ast.Name(id="__trace__", ctx=ast.Load()), attr=method, ctx=ast.Load()),
        args=args,
        keywords=[],
    )
    return ast.copy_location(ast.Expr(value=call), at)


def const(value):
    return ast.Constant(value=value)


def name(ident):
    return ast.Name(id=ident, ctx=ast.Load())


class Missing(Exception):
    """A statement the tracer hooks is not in the file."""


def need(index, what):
    if index is None:
        raise Missing(what)
    return index


def literal(node):
    """The value of a literal expression, or None."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def instrument(tree):
    """Inserts the hooks into microgpt.py's tree; returns what the header reads from the source:
    the seed, the temperature and the number of samples (literals, or names to look up later)."""
    body = tree.body
    found = {}
    seed_at = find(body, lambda s: isinstance(s, ast.Expr) and is_call(s.value, "random", "seed"))
    found["seed"] = literal(body[seed_at].value.args[0]) if seed_at is not None else None

    i = need(find(body, lambda s: assigns(s, "docs")), "the line `docs = [...]` that reads input.txt")
    body.insert(i + 1, hook("docs_read", [], body[i]))
    i = need(
        find(body, lambda s: isinstance(s, ast.Expr) and is_call(s.value, "random", "shuffle")),
        "the line `random.shuffle(docs)`",
    )
    body.insert(i + 1, hook("docs_shuffled", [], body[i]))

    gpt = need(
        find(body, lambda s: isinstance(s, ast.FunctionDef) and s.name == "gpt"),
        "the function `gpt`",
    )
    instrument_gpt(body[gpt])

    train = body[need(find(body, lambda s: range_loop(s, "step")), "the loop `for step in range(num_steps):`")]
    # The step limit: range(num_steps) becomes range(__trace__.steps(num_steps)). The header and the
    # initial weights are written there, when the loop starts.
    train.iter.args[0] = ast.Call(
        func=ast.Attribute(value=name("__trace__"), attr="steps", ctx=ast.Load()),
        args=[train.iter.args[0]],
        keywords=[],
    )
    instrument_training(train)

    n = find(body, lambda s: assigns(s, "num_steps"))
    found["num_steps"] = literal(body[n].value) if n is not None else None
    t = find(body, lambda s: assigns(s, "temperature"))
    found["temperature"] = body[t].value if t is not None else None
    sampling = body[need(find(body, lambda s: range_loop(s, "sample_idx")), "the loop `for sample_idx in range(...):`")]
    found["num_samples"] = sampling.iter.args[0]
    instrument_sampling(sampling)
    ast.fix_missing_locations(tree)
    return found


def instrument_training(train):
    tb = train.body
    tb.insert(0, hook("begin_step", [], tb[0]))
    pos = tb[need(find(tb, lambda s: range_loop(s, "pos_id")), "the loop `for pos_id in range(n):` of training")]
    i = need(find(pos.body, lambda s: assigns(s, "loss_t")), "the line `loss_t = -probs[target_id].log()`")
    pos.body.insert(i + 1, hook("position_end", [], pos.body[i]))
    i = need(
        find(tb, lambda s: isinstance(s, ast.Expr) and is_call(s.value, "loss", "backward")),
        "the line `loss.backward()`",
    )
    tb.insert(i + 1, hook("after_backward", [], tb[i]))
    i = need(
        find(
            tb,
            lambda s: isinstance(s, ast.For)
            and is_call(s.iter, None, "enumerate")
            and len(s.iter.args) == 1
            and isinstance(s.iter.args[0], ast.Name)
            and s.iter.args[0].id == "params",
        ),
        "Adam's loop `for i, p in enumerate(params):`",
    )
    tb.insert(i + 1, hook("after_update", [], tb[i]))


def instrument_sampling(sampling):
    sb = sampling.body
    sb.insert(0, hook("sample_begin", [], sb[0]))
    pos = sb[need(find(sb, lambda s: range_loop(s, "pos_id")), "the loop `for pos_id in range(block_size):` of sampling")]
    i = need(
        find(pos.body, lambda s: assigns(s, "token_id") and contains_call(s.value, "random", "choices")),
        "the line `token_id = random.choices(...)[0]`",
    )
    pos.body.insert(i + 1, hook("drawn", [], pos.body[i]))
    i = need(
        find(sb, lambda s: isinstance(s, ast.Expr) and is_call(s.value, None, "print")),
        "the line that prints a sample",
    )
    sb.insert(i, hook("sample_end", [], sb[i]))


def contains_call(node, owner, name_):
    return any(is_call(n, owner, name_) for n in ast.walk(node))


# gpt's assignments to x, in order: before the layer loop, and in it (None: not traced).
X_BEFORE_LAYERS = ["embedding", "norm"]
X_IN_LAYER = ["norm_attn", None, "attn_out", "norm_mlp", None, "mlp_hidden", None, "mlp_out"]


def instrument_gpt(fn):
    """Hooks gpt's stages: each records its values with the position, layer and head."""
    if "pos_id" not in [a.arg for a in fn.args.args]:
        raise Missing("gpt's argument `pos_id`")

    def stage(label, layer, head, value, at):
        return hook("fwd", [name("pos_id"), const(label), layer, head, value], at)

    body = fn.body
    loop_at = need(find(body, lambda s: range_loop(s, "li")), "gpt's loop `for li in range(n_layer):`")
    xs = [i for i in range(loop_at) if assigns(body[i], "x")]
    if len(xs) != len(X_BEFORE_LAYERS):
        raise Missing("gpt's two lines `x = ...` before the layers (embedding, rmsnorm)")
    for i, label in reversed(list(zip(xs, X_BEFORE_LAYERS))):
        body.insert(i + 1, stage(label, const(-1), const(-1), name("x"), body[i]))

    layer = body[find(body, lambda s: range_loop(s, "li"))].body
    heads = need(find(layer, lambda s: range_loop(s, "h")), "gpt's loop `for h in range(n_head):`")
    hb = layer[heads].body
    i = need(find(hb, lambda s: assigns(s, "attn_weights")), "gpt's line `attn_weights = softmax(...)`")
    hb.insert(i + 1, stage("attn", name("li"), name("h"), name("attn_weights"), hb[i]))
    inserts = [(heads, stage("heads_out", name("li"), const(-1), name("x_attn"), layer[heads]))]
    for var in ("q", "k", "v"):
        i = need(find(layer, lambda s: assigns(s, var)), "gpt's line `%s = linear(...)`" % var)
        inserts.append((i, stage(var, name("li"), const(-1), name(var), layer[i])))
    xs = [i for i, s in enumerate(layer) if assigns(s, "x")]
    if len(xs) != len(X_IN_LAYER):
        raise Missing("gpt's eight lines `x = ...` in a layer (attention block and MLP block)")
    for i, label in zip(xs, X_IN_LAYER):
        if label is not None:
            inserts.append((i, stage(label, name("li"), const(-1), name("x"), layer[i])))
    for i, stmt in sorted(inserts, key=lambda p: p[0], reverse=True):
        layer.insert(i + 1, stmt)


# ------------------------------------------------------------------------------------------------
# The trace


def jsonable(x):
    """x with non-finite floats as the strings "NaN", "Infinity", "-Infinity" (JSON has none)."""
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if x != x else ("Infinity" if x > 0 else "-Infinity")
    if isinstance(x, list):
        return [jsonable(v) for v in x]
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    return x


def sha256_docs(docs):
    """SHA-256 of the documents joined by "\\n", as UTF-8: what both sides hash."""
    return hashlib.sha256("\n".join(docs).encode("utf-8")).hexdigest()


def sum_squares(values):
    s = 0.0
    for x in values:
        s = s + x * x
    return s


def datas(values):
    return [v.data for v in values]


class Tracer:
    """The object the inserted hooks call. `ns` is microgpt.py's global namespace."""

    def __init__(self, out, steps, detail, found):
        self.out = out
        self.limit = steps
        self.detail = detail
        self.found = found
        self.ns = None
        self.training = False
        self.detailed = False
        self.stages = {}
        self.steps_done = 0
        self.samples_done = 0
        self.detail_done = []

    def write(self, record):
        self.out.write(json.dumps(jsonable(record), ensure_ascii=False, separators=(",", ":"), allow_nan=False))
        self.out.write("\n")

    def setting(self, node):
        """A setting read from the source: a literal, or a name already defined; else None."""
        if node is None:
            return None
        if isinstance(node, ast.Name):
            value = self.ns.get(node.id)
            return value if isinstance(value, (int, float)) else None
        return literal(node)

    # Data
    def docs_read(self):
        self.docs_sha = sha256_docs(self.ns["docs"])

    def docs_shuffled(self):
        self.shuffled_sha = sha256_docs(self.ns["docs"])

    # Training
    def steps(self, num_steps):
        last = num_steps if self.limit is None else min(self.limit, num_steps)
        # (where microgpt.py's num_steps is no literal, the last step is known only now)
        check_detail(sorted(self.detail), last)
        self.header(num_steps)
        self.init()
        self.training = True
        return last

    def header(self, num_steps):
        ns = self.ns
        defaults = getattr(ns.get("matrix"), "__defaults__", None) or (None,)
        settings = {
            "n_layer": ns["n_layer"],
            "n_embd": ns["n_embd"],
            "block_size": ns["block_size"],
            "n_head": ns["n_head"],
            "init_std": defaults[-1],
            "learning_rate": ns["learning_rate"],
            "beta1": ns["beta1"],
            "beta2": ns["beta2"],
            "eps_adam": ns["eps_adam"],
            "num_steps": num_steps,
            "temperature": self.setting(self.found["temperature"]),
            "num_samples": self.setting(self.found["num_samples"]),
            "seed": self.found["seed"],
        }
        self.write({
            "kind": "header",
            "format": FORMAT,
            "version": VERSION,
            "engine": ENGINE,
            "settings": settings,
            "vocab": list(ns["uchars"]),
            "bos": ns["BOS"],
            "vocab_size": ns["vocab_size"],
            "num_docs": len(ns["docs"]),
            "docs_sha256": self.docs_sha,
            "shuffled_sha256": self.shuffled_sha,
            "num_params": len(ns["params"]),
        })

    def init(self):
        for matrix, rows in self.ns["state_dict"].items():
            values = [p.data for row in rows for p in row]
            self.write({
                "kind": "init",
                "matrix": matrix,
                "rows": len(rows),
                "cols": len(rows[0]) if rows else 0,
                "sumsq": sum_squares(values),
                "values": values,
            })

    def begin_step(self):
        step = self.ns["step"]
        self.detailed = (step + 1) in self.detail
        self.stages = {}

    def fwd(self, pos, stage, layer, head, values):
        if self.detailed:
            self.stages[(stage, layer, head)] = datas(values)

    def position_end(self):
        if not self.detailed:
            return
        ns = self.ns
        n_layer, n_head = ns["n_layer"], ns["n_head"]
        s = self.stages
        layers = []
        for li in range(n_layer):
            layer = {}
            for stage in ("norm_attn", "q", "k", "v"):
                layer[stage] = s[(stage, li, -1)]
            layer["attn"] = [s[("attn", li, h)] for h in range(n_head)]
            for stage in ("heads_out", "attn_out", "norm_mlp", "mlp_hidden", "mlp_out"):
                layer[stage] = s[(stage, li, -1)]
            layers.append(layer)
        target = ns["target_id"]
        self.write({
            "kind": "forward",
            "step": ns["step"],
            "pos": ns["pos_id"],
            "token": ns["token_id"],
            "target": target,
            "embedding": s[("embedding", -1, -1)],
            "norm": s[("norm", -1, -1)],
            "layers": layers,
            "logits": datas(ns["logits"]),
            "prob": ns["probs"][target].data,
        })
        self.stages = {}

    def matrix_sums(self, attr):
        sums = {}
        for matrix, rows in self.ns["state_dict"].items():
            s = 0.0
            for row in rows:
                for p in row:
                    x = getattr(p, attr)
                    s = s + x * x
            sums[matrix] = s
        return sums

    def after_backward(self):
        self.grad_sumsq = self.matrix_sums("grad")

    def after_update(self):
        ns = self.ns
        step = ns["step"]
        self.write({
            "kind": "step",
            "step": step,
            "doc": step % len(ns["docs"]),
            "tokens": ns["tokens"][: ns["n"] + 1],
            "lr": ns["lr_t"],
            "loss": ns["loss"].data,
            "grad_sumsq": self.grad_sumsq,
            "weight_sumsq": self.matrix_sums("data"),
        })
        self.steps_done += 1
        if self.detailed:
            self.detail_done.append(step + 1)

    # Sampling
    def sample_begin(self):
        self.training = False
        self.detailed = False
        self.drawn_tokens = []
        self.drawn_probs = []

    def drawn(self):
        token = self.ns["token_id"]
        self.drawn_tokens.append(token)
        self.drawn_probs.append(self.ns["probs"][token].data)

    def sample_end(self):
        self.write({
            "kind": "sample",
            "sample": self.ns["sample_idx"],
            "tokens": self.drawn_tokens,
            "probs": self.drawn_probs,
            "text": "".join(self.ns["sample"]),
        })
        self.samples_done += 1


# ------------------------------------------------------------------------------------------------
# Running it


def load(script):
    """microgpt.py's instrumented code and what the header reads from its source."""
    if not os.path.exists(script):
        raise UsageError("%s: no such file" % script)
    if os.path.isdir(script):
        raise UsageError("%s is a directory, not microgpt.py" % script)
    try:
        with open(script, "rb") as f:
            source = f.read()
    except OSError as e:
        raise UsageError("cannot read %s: %s" % (script, e.strerror or e))
    try:
        tree = ast.parse(source, filename=script)
    except (SyntaxError, ValueError) as e:
        raise UsageError("%s is not Python this interpreter reads (%s)" % (script, one_line(e)))
    except (MemoryError, RecursionError):
        raise UsageError("%s is too large or too deeply nested to parse" % script)
    try:
        found = instrument(tree)
    except Missing as e:
        raise UsageError("%s does not look like microgpt.py: the tracer cannot find %s" % (script, e))
    return compile(tree, script, "exec"), found


def one_line(e):
    return " ".join(str(e).split())


def check_paths(script, trace):
    """Refuses a trace path that would replace something that is not a trace."""
    if not os.path.isfile("input.txt"):
        raise UsageError(
            "no input.txt in the working directory %s: microgpt.py reads it (and would download "
            "names.txt if it is missing; the tracer does not, so that a trace has a known input)"
            % os.getcwd()
        )
    if os.path.isdir(trace):
        raise UsageError("--trace %s is a directory: name a file" % trace)
    if os.path.exists(trace) and not os.path.isfile(trace):
        raise UsageError("--trace %s is not a regular file: name a file" % trace)
    for other, what in ((script, "microgpt.py"), ("input.txt", "the training text")):
        if os.path.exists(trace) and os.path.samefile(trace, other):
            raise UsageError("--trace %s is %s: name another file" % (trace, what))
    if os.path.exists(trace) and not is_trace(trace):
        raise UsageError("--trace %s exists and is not a trace: not replacing it" % trace)
    parent = os.path.dirname(os.path.abspath(trace))
    if not os.path.isdir(parent):
        raise UsageError("--trace %s: the folder %s does not exist" % (trace, parent))


def system_path(path):
    """Why a path in /proc or /sys (or a link into them, however many links deep) is refused, or
    None: they hold views of the running system (/proc/self/fd/1 is whatever stdout writes to),
    not files to write. Links are followed one at a time, as the engines follow them: the last
    link of /proc/self/fd/1 leads out of /proc again."""
    target = os.path.abspath(path)
    for _ in range(40):
        m = re.match(r"^/(proc|sys)(/|$)", target)
        if m:
            place = "/" + m.group(1)
            said = "it is in %s" % place if target == os.path.abspath(path) else "it links to %s" % target
            return "%s: %s holds views of the running system, not files to write" % (said, place)
        if not os.path.islink(target):
            return None
        link = os.readlink(target)
        target = os.path.normpath(os.path.join(os.path.dirname(target), link))
    return None


def is_trace(path):
    """Whether a file is empty or starts with a trace header (which a new trace may replace)."""
    try:
        with open(path, "rb") as f:
            first = f.readline(1 << 16)
        if first.strip() == b"":
            return True
        record = json.loads(first.decode("utf-8"))
        return isinstance(record, dict) and record.get("format") == FORMAT
    except (OSError, ValueError):
        return False


def failure(e, script):
    """The error line and exit code for an exception from the run: 1 when microgpt.py failed, 2
    when a hook could not read what it expects (the file only looks like microgpt.py)."""
    frames = traceback.extract_tb(e.__traceback__)
    line = None
    for frame in frames:
        if os.path.abspath(frame.filename) == os.path.abspath(script):
            line = frame.lineno
    where = " at line %d" % line if line is not None else ""
    what = "%s: %s" % (type(e).__name__, one_line(e))
    if frames and os.path.abspath(frames[-1].filename) == os.path.abspath(__file__):
        return "%s does not look like microgpt.py: the tracer could not read it%s (%s)" % (script, where, what), 2
    return "%s failed%s: %s" % (script, where, what), 1


def run(argv):
    args = parse_args(argv)
    if args is None:
        sys.stdout.write(__doc__)
        return 0
    script, trace, steps, asked = args
    system = system_path(trace)
    if system is not None:
        raise UsageError("cannot write the trace %s: %s" % (trace, system))
    code, found = load(script)
    num_steps = found["num_steps"]
    if isinstance(num_steps, int) and not isinstance(num_steps, bool):
        check_detail(asked, num_steps if steps is None else min(steps, num_steps))
    detail = {1} | set(asked)
    check_paths(script, trace)
    try:
        out = open(trace, "w", encoding="utf-8", newline="\n")
    except OSError as e:
        raise UsageError("cannot write --trace %s: %s" % (trace, e.strerror or e))
    tracer = Tracer(out, steps, detail, found)
    ns = {"__name__": "__main__", "__file__": script, "__builtins__": builtins, "__trace__": tracer}
    tracer.ns = ns
    saved_argv = sys.argv
    sys.argv = [script]
    try:
        exec(code, ns)
        sys.stdout.flush()
    except BrokenPipeError:
        # Nobody reads stdout any more; keep Python from complaining about it at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        say("error: stdout was closed; %s holds the %d steps traced" % (trace, tracer.steps_done))
        return 1
    except KeyboardInterrupt:
        say("error: interrupted; %s holds the %d steps traced so far" % (trace, tracer.steps_done))
        return 130
    except UsageError:
        raise
    except Exception as e:
        message, code = failure(e, script)
        say("error: %s" % message)
        return code
    finally:
        sys.argv = saved_argv
        out.close()
    detail_text = ", ".join(str(k) for k in tracer.detail_done) or "none"
    say(
        "trace: wrote %s: %d steps (forward detail at step %s), %d samples"
        % (trace, tracer.steps_done, detail_text, tracer.samples_done)
    )
    return 0


def main():
    try:
        return run(sys.argv[1:])
    except UsageError as e:
        say("error: %s" % e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
