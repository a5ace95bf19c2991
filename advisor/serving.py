"""One serving replica under load: a step-level simulation of a continuous-batching engine.

The roofline (:mod:`advisor.roofline`) gives the time of one engine step for any mix of
tokens. This module runs those steps the way a vLLM / TensorRT-LLM scheduler does and reads
the latency distributions off the result:

* **Arrivals**: Poisson by default; ``arrival_cv`` ≠ 1 draws gamma inter-arrival times with
  that coefficient of variation (bursty traffic above 1, smoother below). Two benchmark forms
  check the model at a known load (``advisor validate``): :func:`closed_loop`, a fixed number
  of clients each sending its next request when the last ends, and :func:`static_batch`, a
  batch sent at once and run to the end.
* **Lengths**: lognormal around the mean prompt and completion lengths with coefficients of
  variation ``prompt_tokens_cv`` / ``completion_tokens_cv`` (0: every request the mean), or
  drawn from a histogram of (prompt, completion, share) buckets.
* **Scheduler**, every step: each running sequence that has its first token decodes one token;
  the rest of the step's token budget (``max_num_batched_tokens``) goes to prefill chunks of
  the admitted prompts in arrival order (chunked prefill); waiting requests are admitted, first
  come first served, while fewer than ``max_batch`` sequences run and the paged KV cache has
  room for the prompt. When a decoding sequence needs a block and none is free, the most
  recently admitted sequence is preempted and later recomputed (its prompt plus the tokens it
  had generated are prefilled again), as vLLM does.
* **Prefix cache**: ``prefix_cache_hit`` of each prompt's tokens are already cached: their
  prefill compute is skipped, their KV is still held and read.
* **Step time**: :func:`advisor.roofline.step_parts_s` on the tokens actually in the step
  (decode tokens at their real contexts, the prefill chunks, the KV they read).

A stretch of pure decode steps (no prefill, no admission possible) is advanced in one move:
the contexts grow by one token per step, so the step times are known in closed form until the
next completion, arrival or KV-cache overflow. The cost of a run is therefore a few numpy calls
per request, not per token.

Outputs (:class:`LoadResult`): TTFT and TPOT per request (TPOT = time between the first and
the last token over the tokens after the first), summarized as mean, p50, p90, p95, p99;
throughput; mean batch. The first ``warmup`` requests (and the last ``warmup / 2``, which see
a draining queue) are left out of the statistics. Runs are seeded and deterministic; draws
are common random numbers across rates (the same requests, the gaps scaled by the rate), so
latencies rise with the rate.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import heapq
import json
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from advisor.capacity_cache import CapacityCache
from advisor.catalog import GPU, Efficiency, ModelArch, Quantization
from advisor.roofline import (
    ACTIVATION_BYTES,
    ALLREDUCES_PER_LAYER,
    combine_step_s,
    kv_bytes_per_token,
    kv_capacity_tokens,
    replica_performance,
    sustained_flops,
    weight_bytes,
)
from advisor.units import MS_PER_S, tb_per_s_to_bytes_per_s

#: Latency statistics a workload may state its SLOs in.
STATS: tuple[str, ...] = ("mean", "p50", "p90", "p95", "p99")
_PCT = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}


# --- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """What arrives at a replica: lengths [tokens] and their spread, burstiness, prefix cache."""

    prompt_tokens: float
    completion_tokens: float
    prompt_tokens_cv: float = 0.0
    completion_tokens_cv: float = 0.0
    arrival_cv: float = 1.0
    prefix_cache_hit: float = 0.0
    #: (prompt, completion, share) buckets; replaces the lognormal draws when given
    histogram: tuple[tuple[float, float, float], ...] | None = None


@dataclass(frozen=True)
class Replica:
    """A replica configuration and its engine settings; everything a step time depends on."""

    model: ModelArch
    gpu: GPU
    quant: Quantization
    eff: Efficiency
    tp: int
    kv_dtype: str = "auto"

    @property
    def kv_capacity_tokens(self) -> float:
        return kv_capacity_tokens(
            self.model, self.gpu, self.quant, self.eff, self.tp, self.kv_dtype
        )


class StepModel:
    """The roofline's step time as scalar arithmetic (same formula as ``step_parts_s`` and
    ``combine_step_s``).

    ``time(tokens, kv_read, attention)`` = ``max(memory, compute) + fixed``, or
    ``memory + compute + fixed`` where the family's ``step_combine`` is ``sum``; memory time
    is (weights read + KV read) over bandwidth, compute is (2 × active params × tokens +
    attention FLOPs) over peak, fixed is the all-reduces and the per-step overhead.
    """

    def __init__(self, r: Replica) -> None:
        m, g, q, e, tp = r.model, r.gpu, r.quant, r.eff, r.tp
        self.inv_bw = 1.0 / (tp * tb_per_s_to_bytes_per_s(g.hbm_tb_per_s) * e.mbu)
        self.inv_fl = 1.0 / (tp * sustained_flops(g, q, e))
        self.kvb = kv_bytes_per_token(m, q, r.kv_dtype, g)
        self.c_tok = 2.0 * m.active_params
        self.c_attn = 4.0 * m.layers * m.q_heads * m.head_dim
        self.weights = weight_bytes(m, q)
        self.eff = e
        self.additive = e.step_combine == "sum"
        self.moe = m.is_moe
        if self.moe:
            ek, k = m.experts, m.experts_per_token
            expert = (m.params - m.active_params) * ek / (ek - k) if ek > k else 0.0
            self.shared_b = (m.params - expert) * q.weight_bytes_per_param
            self.expert_b = expert * q.weight_bytes_per_param
            self.miss = 1.0 - k / ek
        overhead = e.step_overhead_ms / MS_PER_S
        if tp > 1:
            n = ALLREDUCES_PER_LAYER * m.layers
            steps = 2.0 * (tp - 1)
            self.f0 = overhead + n * (e.allreduce_latency_us * 1e-6 + steps * g.link_hop_latency_s)
            self.f1 = n * steps / tp * m.hidden_size * ACTIVATION_BYTES / g.link_bytes_per_s
        else:
            self.f0, self.f1 = overhead, 0.0

    def weights_read(self, tokens: float) -> float:
        if not self.moe:
            return self.weights
        return self.shared_b + self.expert_b * (1.0 - self.miss ** max(tokens, 1.0))

    def time(self, tokens: float, kv_read: float, attention: float) -> float:
        """Seconds of one step of ``tokens`` reading ``kv_read`` KV tokens."""
        t_mem = (self.weights_read(tokens) + self.kvb * kv_read) * self.inv_bw
        t_cmp = (self.c_tok * tokens + self.c_attn * attention) * self.inv_fl
        if self.additive:
            return t_mem + t_cmp + self.f0 + self.f1 * tokens
        return (t_mem if t_mem > t_cmp else t_cmp) + self.f0 + self.f1 * tokens

    def decode_lines(self, n: int, ctx_sum: float) -> tuple[float, float, float, float]:
        """Pure decode step ``j`` of ``n`` sequences lasts ``max(a_m + b_m j, a_c + b_c j)``
        (with ``step_combine`` ``sum``, both lines are the one line of their sum)."""
        fixed = self.f0 + self.f1 * n
        a_m = (self.weights_read(n) + self.kvb * ctx_sum) * self.inv_bw
        b_m = self.kvb * n * self.inv_bw
        a_c = (self.c_tok * n + self.c_attn * ctx_sum) * self.inv_fl
        b_c = self.c_attn * n * self.inv_fl
        if self.additive:
            a, b = a_m + a_c + fixed, b_m + b_c
            return a, b, a, b
        return a_m + fixed, b_m, a_c + fixed, b_c

    def decode_run(self, n: int, ctx_sum: float, k: int) -> np.ndarray:
        """End times (from now) of ``k`` pure decode steps of ``n`` sequences [s].

        Step ``j`` reads ``ctx_sum + n j`` KV tokens and attends to as many.
        """
        j = np.arange(k, dtype=float)
        kv = ctx_sum + n * j
        w = self.weights_read(n)
        t_mem = (w + self.kvb * kv) * self.inv_bw
        t_cmp = (self.c_tok * n + self.c_attn * kv) * self.inv_fl
        return np.cumsum(combine_step_s(self.eff, t_mem, t_cmp, self.f0 + self.f1 * n))


# --- outputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    """Latency and throughput of one replica at one arrival rate (all per replica)."""

    rate_rps: float
    ttft_ms: dict[str, float]
    tpot_ms: dict[str, float]
    requests_per_s: float
    output_tokens_per_s: float
    mean_batch: float
    preemptions: int
    requests: int
    stable: bool
    #: mean TPOT of the later half of the measured requests over the earlier half, minus 1
    drift: float = 0.0

    def stat(self, which: str, stat: str) -> float:
        return (self.ttft_ms if which == "ttft" else self.tpot_ms)[stat]


def _summary(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {s: math.nan for s in STATS}
    out = {"mean": float(np.mean(values))}
    for s, q in _PCT.items():
        out[s] = float(np.percentile(values, q))
    return out


# --- request draws --------------------------------------------------------------------------


def _lognormal(rng: np.random.Generator, mean: float, cv: float, n: int) -> np.ndarray:
    if cv <= 0:
        return np.full(n, mean)
    s2 = math.log1p(cv * cv)
    return rng.lognormal(math.log(mean) - s2 / 2.0, math.sqrt(s2), n)


@dataclass(frozen=True)
class Requests:
    """Draws for ``n`` requests at unit rate: inter-arrival gaps (mean 1) and lengths."""

    gaps: np.ndarray
    prompt: np.ndarray
    completion: np.ndarray

    def head(self, n: int) -> Requests:
        """The first ``n`` requests."""
        return Requests(self.gaps[:n], self.prompt[:n], self.completion[:n])


def draw_requests(traffic: Traffic, n: int, seed: int, max_context: float) -> Requests:
    """The requests of one run, independent of the rate (common random numbers)."""
    # one stream per quantity: the first k requests of a draw of n are the draw of k, so a
    # longer run extends a shorter one
    rng_gap, rng_prompt, rng_out = (
        np.random.default_rng(c) for c in np.random.SeedSequence(seed).spawn(3)
    )
    cv = traffic.arrival_cv
    if cv <= 0:
        gaps = np.ones(n)
    elif abs(cv - 1.0) < 1e-12:
        gaps = rng_gap.exponential(1.0, n)
    else:
        shape = 1.0 / (cv * cv)
        gaps = rng_gap.gamma(shape, 1.0 / shape, n)
    if traffic.histogram:
        h = np.asarray(traffic.histogram, dtype=float)
        share = h[:, 2] / h[:, 2].sum()
        idx = rng_prompt.choice(len(h), size=n, p=share)
        prompt, completion = h[idx, 0], h[idx, 1]
    else:
        prompt = _lognormal(rng_prompt, traffic.prompt_tokens, traffic.prompt_tokens_cv, n)
        completion = _lognormal(rng_out, traffic.completion_tokens, traffic.completion_tokens_cv, n)
    prompt = np.maximum(np.rint(prompt), 1.0)
    completion = np.maximum(np.rint(completion), 1.0)
    # a request never exceeds the model's context: cut the prompt first
    over = prompt + completion - max_context
    completion = np.where(completion > max_context - 1, max_context - 1, completion)
    prompt = np.where(over > 0, np.maximum(max_context - completion, 1.0), prompt)
    return Requests(gaps, prompt, completion)


# --- the simulation -------------------------------------------------------------------------


@dataclass(slots=True)
class _Seq:
    arrival: float
    prompt: int  # original prompt length [tokens]
    completion: int
    cached: int  # prompt tokens served by the prefix cache
    to_prefill: int = 0  # tokens still to compute before the next token
    prefilled: int = 0  # tokens computed in the current prefill
    emitted: int = 0  # output tokens produced so far
    first: float = math.nan
    finish: float = math.nan
    start_step: int = 0  # step count at which it (re)entered decoding
    version: int = 0
    state: str = "new"  # new, waiting, prefill, decode, done
    held: float = 0.0  # KV tokens held while prefilling
    admitted: float = math.nan  # first admission time


@dataclass
class _Run:
    seqs: list[_Seq] = field(default_factory=list)
    busy_s: float = 0.0
    batch_s: float = 0.0
    preemptions: int = 0


def simulate(
    replica: Replica,
    traffic: Traffic,
    rate_rps: float,
    *,
    n_requests: int | None = None,
    warmup: int | None = None,
    seed: int = 0,
    requests: Requests | None = None,
    settled: Callable[[LoadResult], bool] | None = None,
) -> LoadResult:
    """Run one replica at ``rate_rps`` requests/s and return its latency distributions.

    ``rate_rps = math.inf`` sends every request at time 0 (an offline run). With
    ``n_requests`` the run has that many requests (``warmup`` of them left out, default
    ``WARMUP``). Without, the run is as long as the steady state needs: ``N_REQUESTS`` at
    first, doubled up to ``MAX_REQUESTS`` while the mean TPOT still drifts by more than
    ``DRIFT`` between the two halves of the measured requests (near saturation an engine fills
    up slowly, and a short run would report the latencies of its start); the first sixth of
    each run is its warm-up. ``settled(result)`` True also ends it (the capacity search: the
    statistics are far enough from the limits that a longer run will not change the verdict).
    """
    max_ctx = float(replica.model.max_context_tokens)
    if n_requests is not None:
        reqs = requests or draw_requests(traffic, n_requests, seed, max_ctx)
        return _run_once(replica, traffic, rate_rps, reqs, WARMUP if warmup is None else warmup)
    reqs = requests or draw_requests(traffic, MAX_REQUESTS, seed, max_ctx)
    n = min(N_REQUESTS, len(reqs.prompt))
    while True:
        res = _run_once(replica, traffic, rate_rps, reqs.head(n), n // 6)
        if not res.stable or abs(res.drift) <= DRIFT or 2 * n > len(reqs.prompt):
            return res
        if settled is not None and settled(res):
            return res
        n *= 2


def _run_once(
    replica: Replica, traffic: Traffic, rate_rps: float, reqs: Requests, warmup: int
) -> LoadResult:
    n = len(reqs.prompt)
    arrivals = np.zeros(n) if math.isinf(rate_rps) else np.cumsum(reqs.gaps) / rate_rps
    return _result(_run_engine(replica, traffic, arrivals, reqs), rate_rps, warmup)


def _run_engine(
    replica: Replica,
    traffic: Traffic,
    arrivals: np.ndarray,
    reqs: Requests,
    release: int | None = None,
) -> _Run:
    """The requests ``reqs`` arriving at ``arrivals`` through the replica's engine."""
    eff = replica.eff
    hit = min(max(traffic.prefix_cache_hit, 0.0), 1.0)
    return _simulate(
        StepModel(replica),
        arrivals,
        reqs.prompt.astype(int),
        reqs.completion.astype(int),
        hit,
        max_seqs=min(eff.max_batch, eff.max_num_batched_tokens),
        budget=eff.max_num_batched_tokens,
        block=eff.kv_block_tokens,
        kv_capacity=replica.kv_capacity_tokens,
        release=release,
    )


def _simulate(
    sm: StepModel,
    arrivals: np.ndarray,
    prompts: np.ndarray,
    completions: np.ndarray,
    hit: float,
    *,
    max_seqs: int,
    budget: int,
    block: int,
    kv_capacity: float,
    release: int | None = None,
) -> _Run:
    """Run the requests through one engine; the returned sequences carry their times. With
    ``release``, a closed loop: the requests from that index on arrive one per completion."""
    # Python scalars (tolist): the same values as the numpy ones, built faster
    seqs = [
        _Seq(float(a), int(p), int(o), int(p * hit) if p > 1 else 0)
        for a, p, o in zip(arrivals.tolist(), prompts.tolist(), completions.tolist(), strict=True)
    ]
    engine = _Engine(
        sm,
        seqs,
        max_seqs=max_seqs,
        budget=budget,
        block=block,
        kv_capacity=kv_capacity,
        release=release,
    )
    engine.run()
    return engine.out


class _Engine:
    """The scheduler state of one run of :func:`_simulate` and its phases.

    A decoding sequence's live context is ``prompt + emitted_at_entry + (steps − start_step)``,
    so the decoding set is kept as its count ``n_dec`` and ``dsum``, the sum over it of
    ``prompt + emitted_at_entry − start_step``: the KV it holds is ``dsum + n_dec × steps``.
    The KV held in all (``used``) adds ``held_pref``, the prefilling sequences', and half a
    block per running sequence; it is written out in line where needed (a hot path).
    """

    __slots__ = (
        "budget",
        "done",
        "dsum",
        "half_block",
        "heap",
        "held_pref",
        "kv_capacity",
        "max_seqs",
        "n_dec",
        "nxt",
        "order",
        "out",
        "prefilling",
        "release",
        "seqs",
        "sm",
        "steps",
        "t",
        "waiting",
    )

    def __init__(
        self,
        sm: StepModel,
        seqs: list[_Seq],
        *,
        max_seqs: int,
        budget: int,
        block: int,
        kv_capacity: float,
        release: int | None = None,
    ) -> None:
        self.sm = sm
        self.seqs = seqs
        # closed loop: requests from ``release`` on are sent one per completion (their
        # arrival, infinite until then, becomes the completion time)
        self.release = len(seqs) if release is None else release
        self.out = _Run(seqs=seqs)
        self.max_seqs = max_seqs
        self.budget = budget
        self.kv_capacity = kv_capacity
        self.half_block = block / 2.0
        self.waiting: deque[int] = deque()
        self.prefilling: list[int] = []
        self.heap: list[tuple[int, int, int]] = []  # (finish step, version, seq)
        self.order: list[int] = []  # admission order of running seqs (for LIFO preemption)
        self.n_dec = 0
        self.dsum = 0.0  # Σ over decoding seqs of (prompt + emitted_at_entry − start_step)
        self.held_pref = 0.0  # KV tokens held by prefilling seqs
        self.steps = 0
        self.t = 0.0
        self.nxt = 0  # next arrival index
        self.done = 0

    def run(self) -> None:
        """Step the engine until every request is done."""
        seqs, waiting, prefilling, heap = self.seqs, self.waiting, self.prefilling, self.heap
        n = len(seqs)
        while self.done < n:
            if self.nxt < n and seqs[self.nxt].arrival <= self.t:
                self._arrive()
            if not waiting and not prefilling and self.n_dec == 0:
                self.t = seqs[self.nxt].arrival  # idle until the next arrival
                continue
            if not prefilling and not (waiting and self._admissible()):
                if not self._decode_stretch():
                    continue  # a sequence was preempted: schedule again
            else:
                self._mixed_step()
            if heap and heap[0][0] <= self.steps:
                self._complete()

    def _arrive(self) -> None:
        """Queue the requests that have arrived by now."""
        seqs, waiting, t = self.seqs, self.waiting, self.t
        n = len(seqs)
        nxt = self.nxt
        while nxt < n and seqs[nxt].arrival <= t:
            s = seqs[nxt]
            s.state = "waiting"
            s.to_prefill = s.prompt - s.cached
            s.prefilled = 0
            waiting.append(nxt)
            nxt += 1
        self.nxt = nxt

    def _admissible(self) -> bool:
        """Whether the head of the queue can be admitted now."""
        waiting = self.waiting
        if not waiting:
            return False
        n_dec = self.n_dec
        running = n_dec + len(self.prefilling)
        if running >= self.max_seqs:
            return False
        h = self.seqs[waiting[0]]
        half_block = self.half_block
        need = h.cached + h.prefilled + h.to_prefill + half_block
        used = self.held_pref + self.dsum + n_dec * self.steps + running * half_block
        return used + need <= self.kv_capacity

    def _preempt_one(self) -> bool:
        """Send the most recently admitted running sequence back to the queue (recompute)."""
        order, steps = self.order, self.steps
        while order:
            i = order.pop()
            s = self.seqs[i]
            if s.state == "decode":
                ctx_entry = s.prompt + s.emitted - s.start_step
                s.emitted += steps - s.start_step  # tokens produced up to now
                self.dsum -= ctx_entry
                self.n_dec -= 1
                s.version += 1
                s.state = "waiting"
                # recompute the prompt and the generated tokens (the cached prefix stays)
                s.to_prefill = s.prompt + s.emitted - s.cached
                s.prefilled = 0
                self.waiting.appendleft(i)
                self.out.preemptions += 1
                return True
            if s.state == "prefill":
                self.prefilling.remove(i)
                self.held_pref -= s.held
                s.held = 0.0
                s.state = "waiting"
                s.to_prefill = s.prefilled + s.to_prefill
                s.prefilled = 0
                self.waiting.appendleft(i)
                self.out.preemptions += 1
                return True
        return False

    def _decode_stretch(self) -> bool:
        """Advance pure decode steps up to the next live completion, arrival or KV overflow.

        False: no step was run, a sequence was preempted to make room instead.
        """
        n_dec = self.n_dec
        if n_dec == 0:
            # nothing runs and the head cannot be admitted: it can never fit
            raise ValueError("a request's prompt does not fit the KV cache")
        heap, seqs, steps = self.heap, self.seqs, self.steps
        while heap[0][1] != seqs[heap[0][2]].version or seqs[heap[0][2]].state != "decode":
            heapq.heappop(heap)
        k = heap[0][0] - steps
        running = n_dec + len(self.prefilling)
        used = self.held_pref + self.dsum + n_dec * steps + running * self.half_block
        free = self.kv_capacity - used
        if free < n_dec:
            if not self._preempt_one():
                raise ValueError("KV cache too small for the running sequences")
            return False
        k = min(k, int(free // n_dec))
        k = max(k, 1)
        k, dt = self._stretch_time(n_dec, k, self.dsum + n_dec * steps)
        run = self.out
        run.busy_s += dt
        run.batch_s += dt * n_dec
        self.t += dt
        self.steps = steps + k
        return True

    def _stretch_time(self, n_dec: int, k: int, ctx: float) -> tuple[int, float]:
        """Steps (at most ``k``, fewer when a request arrives to an empty queue) and their time
        [s] of a pure decode stretch starting at total context ``ctx``."""
        seqs, nxt = self.seqs, self.nxt
        stop = not self.waiting and nxt < self.release
        a_m, b_m, a_c, b_c = self.sm.decode_lines(n_dec, ctx)
        kl = float(k - 1)
        if a_m >= a_c and a_m + b_m * kl >= a_c + b_c * kl:
            a, b = a_m, b_m  # memory-bound throughout
        elif a_c >= a_m and a_c + b_c * kl >= a_m + b_m * kl:
            a, b = a_c, b_c  # compute-bound throughout
        else:
            ends = self.sm.decode_run(n_dec, ctx, k)
            if stop:
                j = int(np.searchsorted(ends, seqs[nxt].arrival - self.t, side="left"))
                k = min(k, j + 1)
            return k, float(ends[k - 1])
        if stop:
            # run until the step in flight when the next request arrives has finished:
            # the first j with a (j + 1) + b j (j + 1) / 2 >= T
            j = _first_step_reaching(a, b, seqs[nxt].arrival - self.t)
            k = min(k, j + 1)
        return k, a * k + b * k * (k - 1) / 2.0

    def _mixed_step(self) -> None:
        """One step of decode tokens, prefill chunks and admissions (chunked prefill)."""
        seqs, n_dec = self.seqs, self.n_dec
        room = self.budget - n_dec
        tokens = float(n_dec)
        kv_read = self.dsum + n_dec * self.steps
        attn = kv_read
        chunks: list[tuple[int, int]] = []
        prefilling, waiting = self.prefilling, self.waiting
        # the admitted prompts in order, then (while the budget lasts) new admissions
        while room > 0:
            j = len(chunks)
            if j == len(prefilling):
                if not (waiting and self._admissible()):
                    break
                i = waiting.popleft()
                s = seqs[i]
                s.state = "prefill"
                if math.isnan(s.admitted):
                    s.admitted = self.t
                s.held = s.cached + s.prefilled + s.to_prefill
                self.held_pref += s.held
                prefilling.append(i)
                self.order.append(i)
            i = prefilling[j]
            s = seqs[i]
            c = min(s.to_prefill, room)
            off = s.cached + s.prefilled
            chunks.append((i, c))
            tokens += c
            kv_read += off
            attn += c * (off + c / 2.0)
            room -= c
        dt = self.sm.time(tokens, kv_read, attn)
        run = self.out
        run.busy_s += dt
        run.batch_s += dt * (n_dec + len(chunks))
        self.t += dt
        self.steps += 1
        self._end_chunks(chunks)

    def _end_chunks(self, chunks: list[tuple[int, int]]) -> None:
        """Book the prefill chunks of the step just run; a finished prefill emits a token."""
        seqs, prefilling, heap = self.seqs, self.prefilling, self.heap
        t, steps = self.t, self.steps
        for i, c in chunks:
            s = seqs[i]
            s.to_prefill -= c
            s.prefilled += c
            if s.to_prefill > 0:
                continue
            # prefill complete: this step produced the next token
            prefilling.remove(i)
            self.held_pref -= s.held
            s.held = 0.0
            s.emitted += 1
            if math.isnan(s.first):
                s.first = t
            if s.emitted >= s.completion:
                s.state = "done"
                s.finish = t
                self.done += 1
                self._release_next()
                continue
            s.state = "decode"
            s.start_step = steps
            s.version += 1
            self.n_dec += 1
            self.dsum += s.prompt + s.emitted - steps
            heapq.heappush(heap, (steps + s.completion - s.emitted, s.version, i))

    def _complete(self) -> None:
        """Finish the decoding sequences whose last token came at this step count."""
        seqs, heap, steps, t = self.seqs, self.heap, self.steps, self.t
        while heap and heap[0][0] <= steps:
            _, ver, i = heapq.heappop(heap)
            s = seqs[i]
            if ver != s.version or s.state != "decode":
                continue
            self.n_dec -= 1
            self.dsum -= s.prompt + s.emitted - s.start_step
            s.state = "done"
            s.finish = t
            s.emitted = s.completion
            self.done += 1
            self._release_next()

    def _release_next(self) -> None:
        """Closed loop: a completion sends the next request now."""
        if self.release < len(self.seqs):
            self.seqs[self.release].arrival = self.t
            self.release += 1


def _first_step_reaching(a: float, b: float, target: float) -> int:
    """Smallest ``j ≥ 0`` with ``a (j + 1) + b j (j + 1) / 2 ≥ target`` (steps ``a + b i``)."""
    if target <= a:
        return 0
    if b <= 0:
        j = math.ceil(target / a) - 1
    else:
        # (b/2) m² + (a − b/2) m − target = 0 with m = j + 1
        c1 = a - b / 2.0
        m = (-c1 + math.sqrt(c1 * c1 + 2.0 * b * target)) / b
        j = math.ceil(m - 1e-9) - 1
    while j > 0 and a * j + b * (j - 1) * j / 2.0 >= target:
        j -= 1
    while a * (j + 1) + b * j * (j + 1) / 2.0 < target:
        j += 1
    return max(j, 0)


def _window(n: int, warmup: int) -> tuple[int, int]:
    """The measured requests of a run of ``n``: ``[lo, hi)`` in arrival order, clear of the
    first ``warmup`` and the last ``warmup / 2`` (at most a quarter of the run left out at
    the start)."""
    lo = min(warmup, n // 4)
    return lo, max(n - warmup // 2, lo + 1)


def _result(run: _Run, rate_rps: float, warmup: int) -> LoadResult:
    seqs = run.seqs
    n = len(seqs)
    lo, hi = _window(n, warmup)
    sel = seqs[lo:hi]
    ttft = np.array([s.first - s.arrival for s in sel]) * MS_PER_S
    tpot = (
        np.array([(s.finish - s.first) / (s.completion - 1) for s in sel if s.completion > 1])
        * MS_PER_S
    )
    # throughput: output tokens of the requests finishing between the lo-th and the (hi-1)-th
    # completion, over that time (a window clear of the start-up and the final drain)
    order = sorted(range(n), key=lambda i: seqs[i].finish)
    t_a, t_b = seqs[order[lo]].finish, seqs[order[hi - 1]].finish
    span = t_b - t_a
    tokens = float(sum(seqs[i].completion for i in order[lo + 1 : hi]))
    out_tps = tokens / span if span > 0 else math.inf
    if math.isinf(rate_rps):
        # an offline run (all requests at time 0) is no steady state: its throughput is every
        # output token over the time to finish them all, as offline benchmarks report it
        out_tps = float(sum(s.completion for s in seqs)) / max(s.finish for s in seqs)
    mean_out = float(np.mean([s.completion for s in seqs]))
    rps = out_tps / mean_out
    # stable: the queue of requests not yet admitted does not grow over the measured window
    # (by more than 5% of the requests measured); an overloaded replica's queue grows linearly
    adm = np.sort(np.array([s.admitted for s in seqs]))
    arr = np.array([s.arrival for s in seqs])

    def queue(x: float) -> int:
        return int(np.searchsorted(arr, x, side="right") - np.searchsorted(adm, x, side="right"))

    growth = queue(sel[-1].arrival) - queue(sel[0].arrival)
    half = len(tpot) // 2
    early, late = (float(np.mean(x)) if len(x) else math.nan for x in (tpot[:half], tpot[half:]))
    drift = late / early - 1.0 if early > 0 else 0.0
    stable = math.isinf(rate_rps) or growth <= max(0.05 * len(sel), 5)
    return LoadResult(
        rate_rps=rate_rps,
        ttft_ms=_summary(ttft),
        tpot_ms=_summary(tpot),
        requests_per_s=float(rps),
        output_tokens_per_s=float(out_tps),
        mean_batch=run.batch_s / run.busy_s if run.busy_s > 0 else 0.0,
        preemptions=run.preemptions,
        requests=len(sel),
        stable=bool(stable),
        drift=float(drift),
    )


def offline_max_requests_per_s(replica: Replica, traffic: Traffic) -> float:
    """Saturation throughput of the same step model in steady state [requests/s].

    ``B`` sequences run (the most memory, ``max_batch`` and the token budget allow); each step
    decodes ``B`` tokens at the mean live context ``prompt + completion / 2`` and prefills
    ``B × prompt / completion`` prompt tokens (attending on average to half a prompt), so
    prefill keeps pace with completions. Throughput ``B / (completion × step)``.
    """
    p, o = traffic.prompt_tokens, traffic.completion_tokens
    e = replica.eff
    hit = traffic.prefix_cache_hit
    ctx = p + o / 2.0
    mem = int(replica.kv_capacity_tokens // (ctx + e.kv_block_tokens / 2.0))
    budget_b = int(e.max_num_batched_tokens // (1.0 + (1.0 - hit) * p / o))
    b = min(mem, e.max_batch, budget_b)
    if b < 1:
        return 0.0
    sm = StepModel(replica)
    pre = b * (1.0 - hit) * p / o
    step = sm.time(
        b + pre, b * ctx + b * hit * p / o, b * ctx + pre * (hit * p + (1 - hit) * p / 2)
    )
    return b / (o * step)


def load_curve(
    replica: Replica, traffic: Traffic, rates: Sequence[float], *, seed: int = 0, **kw
) -> list[LoadResult]:
    """Latency and throughput at each rate, on the same requests (common random numbers)."""
    n = kw.get("n_requests") or MAX_REQUESTS
    reqs = draw_requests(traffic, n, seed, float(replica.model.max_context_tokens))
    return [simulate(replica, traffic, r, requests=reqs, **kw) for r in rates]


# --- SLO capacity ---------------------------------------------------------------------------

#: Capacity models: the step-level simulation (default) or the mean-value roofline (fast).
CAPACITY_MODELS: tuple[str, ...] = ("simulated", "roofline")
#: Bumped whenever the simulation or the search changes what they return (invalidates caches).
MODEL_VERSION = 4
#: Requests of a simulated run at first, and at most (see :func:`simulate`); warm-up requests
#: left out of a run of a fixed length; the largest drift of the mean TPOT a run may end with.
N_REQUESTS = 600
MAX_REQUESTS = 2400
WARMUP = 100
DRIFT = 0.05
#: The capacity search takes a drifting run as it is when its statistics are this far from the
#: limits (relative): its verdict would not change with a longer run.
SETTLED_MARGIN = 0.25
#: Bisection steps of the rate search (the answer is within 2^-STEPS of the upper bound).
SEARCH_STEPS = 6
#: The search stops at the mean-value offline maximum (the same step model at saturation).
BOUND_SLACK = 1.0


@dataclass(frozen=True)
class SLO:
    """Latency limits [ms] on a statistic of the per-request TTFT and TPOT; None: no limit."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    stat: str = "mean"

    def met_by(self, res: LoadResult) -> bool:
        ok = res.stable
        if self.ttft_ms is not None:
            ok = ok and res.ttft_ms[self.stat] <= self.ttft_ms
        if self.tpot_ms is not None:
            ok = ok and res.tpot_ms[self.stat] <= self.tpot_ms
        return bool(ok)

    def clear_of(self, res: LoadResult, margin: float) -> bool:
        """Whether each limited statistic is more than ``margin`` (relative) from its limit,
        or the run is unstable: the verdict will not change with a longer run."""
        if not res.stable:
            return True
        pairs = [(res.ttft_ms[self.stat], self.ttft_ms), (res.tpot_ms[self.stat], self.tpot_ms)]
        pairs = [(v, lim) for v, lim in pairs if lim is not None]
        # without limits only stability decides, and a longer run may find a queue that holds
        return bool(pairs) and all(abs(v / lim - 1.0) > margin for v, lim in pairs)


@dataclass(frozen=True)
class Capacity:
    """What one replica serves for a workload: the largest rate meeting its SLOs.

    ``ttft_ms`` / ``tpot_ms`` are the SLO's statistic at that rate; ``upper_bound_rps`` is the
    mean-value roofline's answer (no queueing), which the simulated capacity never exceeds by
    more than the draws' noise.
    """

    fits: bool
    meets_slo: bool
    reason: str
    requests_per_s: float
    output_tokens_per_s: float
    ttft_ms: float
    tpot_ms: float
    stat: str
    capacity_model: str
    upper_bound_rps: float
    batch: float

    @property
    def feasible(self) -> bool:
        return self.fits and self.meets_slo and self.requests_per_s > 0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


#: SLO capacities computed or read in this process (and on disk, see the module)
CACHE = CapacityCache(MODEL_VERSION)


def flush_cache() -> None:
    """Write the capacities computed in this process to the on-disk cache."""
    CACHE.flush()


def take_new_capacities() -> dict[str, dict]:
    """Cache entries computed in this process since the last call (a worker process's
    result, for its parent's :func:`add_capacities`)."""
    return CACHE.take_new()


def add_capacities(entries: dict[str, dict]) -> None:
    """Cache entries another process computed."""
    CACHE.add(entries)


atexit.register(flush_cache)


def _key(replica: Replica, traffic: Traffic, slo: SLO, capacity_model: str) -> str:
    parts = {
        "v": MODEL_VERSION,
        "n": [N_REQUESTS, MAX_REQUESTS, WARMUP, DRIFT, SETTLED_MARGIN, SEARCH_STEPS, BOUND_SLACK],
        "model": replica.model.model_dump(mode="json", exclude={"source", "as_of", "notes"}),
        "gpu": replica.gpu.model_dump(mode="json", exclude={"source", "as_of", "notes"}),
        "quant": replica.quant.model_dump(mode="json", exclude={"source", "as_of", "notes"}),
        "eff": replica.eff.model_dump(mode="json", exclude={"source", "as_of", "notes"}),
        "tp": replica.tp,
        "kv": replica.kv_dtype,
        "traffic": dataclasses.asdict(traffic),
        "slo": dataclasses.asdict(slo),
        "cm": capacity_model,
    }
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def slo_capacity(
    replica: Replica,
    traffic: Traffic,
    slo: SLO,
    capacity_model: str = "simulated",
    *,
    use_cache: bool = True,
) -> Capacity:
    """The largest arrival rate [requests/s] whose latency statistics meet ``slo``.

    ``roofline``: the mean-value operating point (:func:`advisor.roofline.replica_performance`,
    SLOs on the mean step). ``simulated``: a monotone bisection on the rate with
    :func:`simulate` (common random numbers, so the statistics rise with the rate), between a
    vanishing load and the roofline's offline maximum; a rate passes when the replica keeps up
    and the SLO's statistic of TTFT and TPOT is within the limits. Results are cached in
    process and on disk, keyed by every input.
    """
    if capacity_model not in CAPACITY_MODELS:
        raise ValueError(
            f"unknown capacity model '{capacity_model}'; use {' or '.join(CAPACITY_MODELS)}"
        )
    key = _key(replica, traffic, slo, capacity_model) if use_cache else ""
    if use_cache:
        hit = _from_cache(key)
        if hit is not None:
            return hit
    cap = _compute_capacity(replica, traffic, slo, capacity_model)
    if use_cache:
        CACHE.put(key, cap.as_dict())
    return cap


def cached_capacity(
    replica: Replica, traffic: Traffic, slo: SLO, capacity_model: str = "simulated"
) -> Capacity | None:
    """:func:`slo_capacity` when the cache holds it, else None (nothing is computed)."""
    return _from_cache(_key(replica, traffic, slo, capacity_model))


def _from_cache(key: str) -> Capacity | None:
    """The cached capacity of ``key``; None where absent or not a capacity (recomputed)."""
    hit = CACHE.get(key)
    try:
        return None if hit is None else Capacity(**hit)
    except TypeError:
        return None


def _fmt(v: float | None) -> str:
    return "none" if v is None else f"{v:g} ms"


def _compute_capacity(
    replica: Replica, traffic: Traffic, slo: SLO, capacity_model: str
) -> Capacity:
    r = replica
    p, o = traffic.prompt_tokens, traffic.completion_tokens
    mean_slo = (slo.tpot_ms, slo.ttft_ms)
    perf = replica_performance(
        r.model, r.gpu, r.quant, r.eff, r.tp, p, o, *mean_slo, kv_dtype=r.kv_dtype
    )
    ub = offline_max_requests_per_s(r, traffic) if perf.fits else 0.0
    if capacity_model == "roofline" or not perf.fits:
        return Capacity(
            fits=perf.fits,
            meets_slo=perf.meets_slo,
            reason=perf.reason,
            requests_per_s=perf.requests_per_s,
            output_tokens_per_s=perf.output_tokens_per_s,
            ttft_ms=perf.ttft_ms,
            tpot_ms=perf.tpot_ms,
            stat="mean",
            capacity_model="roofline",
            upper_bound_rps=ub,
            batch=float(perf.batch),
        )
    reqs = draw_requests(traffic, MAX_REQUESTS, 0, float(r.model.max_context_tokens))

    def run(rate: float) -> LoadResult:
        return simulate(r, traffic, rate, requests=reqs, settled=settled)

    def settled(res: LoadResult) -> bool:
        return slo.clear_of(res, SETTLED_MARGIN)

    def verdict(res: LoadResult, rate: float, ok: bool, reason: str = "") -> Capacity:
        return Capacity(
            fits=True,
            meets_slo=ok,
            reason=reason,
            requests_per_s=rate if ok else 0.0,
            output_tokens_per_s=rate * float(np.mean(reqs.completion)) if ok else 0.0,
            ttft_ms=res.ttft_ms[slo.stat],
            tpot_ms=res.tpot_ms[slo.stat],
            stat=slo.stat,
            capacity_model="simulated",
            upper_bound_rps=ub,
            batch=res.mean_batch,
        )

    lo = ub * 2.0**-SEARCH_STEPS
    low = run(lo)
    if not slo.met_by(low):
        return verdict(
            low,
            lo,
            False,
            f"even at {lo:.3g} requests/s the {slo.stat} TTFT is {low.ttft_ms[slo.stat]:.0f} ms "
            f"and TPOT {low.tpot_ms[slo.stat]:.1f} ms (limits {_fmt(slo.ttft_ms)} / "
            f"{_fmt(slo.tpot_ms)})",
        )
    hi = ub * BOUND_SLACK
    best, best_rate = low, lo
    high = run(hi)
    if slo.met_by(high):
        return verdict(high, hi, True)
    for _ in range(SEARCH_STEPS):
        mid = 0.5 * (best_rate + hi)
        res = run(mid)
        if slo.met_by(res):
            best, best_rate = res, mid
        else:
            hi = mid
    return verdict(best, best_rate, True)


def workload_traffic(w) -> Traffic:
    """The traffic a workload (a ``Workload`` or its field dict) sends to a replica."""
    d = w if isinstance(w, dict) else w.model_dump()
    buckets = d.get("length_buckets")
    return Traffic(
        prompt_tokens=float(d["prompt_tokens"]),
        completion_tokens=float(d["completion_tokens"]),
        prompt_tokens_cv=float(d.get("prompt_tokens_cv") or 0.0),
        completion_tokens_cv=float(d.get("completion_tokens_cv") or 0.0),
        arrival_cv=float(d.get("arrival_cv", 1.0) if d.get("arrival_cv") is not None else 1.0),
        prefix_cache_hit=float(d.get("prefix_cache_hit") or 0.0),
        histogram=tuple(tuple(float(x) for x in b) for b in buckets) if buckets else None,
    )


def workload_slo(w) -> SLO:
    """The SLO of a workload (a ``Workload`` or its field dict); no statistic = mean."""
    d = w if isinstance(w, dict) else w.model_dump()
    return SLO(float(d["ttft_ms"]), float(d["tpot_ms"]), d.get("slo_stat") or "mean")


def measured_matches(row, model: str, workload) -> bool:
    """Whether a measured-capacity row (``model``, ``gpu``, ``quant``, ``prompt_tokens``,
    ``completion_tokens``, ``tpot_ms``, ``ttft_ms``) may size a workload (a ``Workload`` or
    its field dict) of ``model``: the same model, mean prompt and completion lengths within
    1%, SLOs at least as tight as the workload's, on a GPU and quantization the workload
    allows. The one rule the options and the verifier apply."""
    d = workload if isinstance(workload, dict) else workload.model_dump()

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= 0.01 * max(abs(a), abs(b))

    return (
        row.model == model
        and close(row.prompt_tokens, float(d["prompt_tokens"]))
        and close(row.completion_tokens, float(d["completion_tokens"]))
        and row.tpot_ms <= float(d["tpot_ms"])
        and row.ttft_ms <= float(d["ttft_ms"])
        and (not d.get("quantizations") or row.quant in d["quantizations"])
        and (not d.get("gpus") or row.gpu in d["gpus"])
    )


def replica_capacity(
    model: ModelArch,
    gpu: GPU,
    quant: Quantization,
    eff: Efficiency,
    tp: int,
    workload,
    capacity_model: str = "simulated",
    kv_dtype: str = "auto",
) -> Capacity:
    """One replica's SLO capacity for a workload: the function the MILP, the baselines and the
    verifier all use."""
    replica = Replica(model, gpu, quant, eff, tp, kv_dtype)
    return slo_capacity(replica, *workload_terms(workload), capacity_model)


def workload_terms(workload) -> tuple[Traffic, SLO]:
    """A workload's traffic and SLO, as :func:`replica_capacity` hands them to
    :func:`slo_capacity`."""
    return workload_traffic(workload), workload_slo(workload)


def offline_run(replica: Replica, traffic: Traffic, *, n_requests: int = 1000) -> LoadResult:
    """An offline benchmark: every request at time 0; throughput = tokens / makespan."""
    return simulate(replica, traffic, math.inf, n_requests=n_requests, warmup=0)


def closed_loop(
    replica: Replica,
    traffic: Traffic,
    concurrency: int,
    *,
    n_requests: int | None = None,
    seed: int = 0,
) -> LoadResult:
    """A closed-loop client at a fixed concurrency (GenAI-Perf / AIPerf ``--concurrency``,
    ``vllm bench serve --max-concurrency`` with requests always waiting): ``concurrency``
    requests are sent at time 0 and each completion sends the next one at once, so the
    replica always holds ``concurrency`` requests. The run has ``n_requests`` (default
    ``max(N_REQUESTS, 8 × concurrency)``); the first two rounds (``2 × concurrency``
    requests) and the last round are left out of the statistics. ``rate_rps`` of the result
    is the request rate the loop reached."""
    if concurrency < 1:
        raise ValueError(f"a closed loop has at least one client, not {concurrency}")
    n = n_requests or max(N_REQUESTS, 8 * concurrency)
    reqs = draw_requests(traffic, n, seed, float(replica.model.max_context_tokens))
    arrivals = np.where(np.arange(n) < concurrency, 0.0, math.inf)
    run = _run_engine(replica, traffic, arrivals, reqs, release=min(concurrency, n))
    res = _result(run, math.nan, 2 * concurrency)
    # the rate by Little's law: the loop always holds ``concurrency`` requests, so it
    # completes them at concurrency / (mean time from sending to the last token). Counting
    # completions in a window would not do: requests sent together finish together, in
    # waves, and a window's ends fall at different phases of the wave
    lo, hi = _window(n, 2 * concurrency)
    latency_s = float(np.mean([s.finish - s.arrival for s in run.seqs[lo:hi]]))
    rps = min(concurrency, n) / latency_s
    return dataclasses.replace(
        res,
        rate_rps=rps,
        requests_per_s=rps,
        output_tokens_per_s=rps * float(np.mean(reqs.completion)),
    )


def static_batch(replica: Replica, traffic: Traffic, batch: int) -> LoadResult:
    """A static-batch benchmark (TensorRT-LLM's gptSessionBenchmark, vLLM's
    ``benchmark_latency``): ``batch`` requests at the traffic's lengths sent at once, their
    prompts prefilled in one step (the engine's batch limit and token budget raised to hold
    them), then decoded together to the end; the KV cache still bounds the batch.
    ``output_tokens_per_s`` is every output token over the time to finish them all (the
    batch's latency is ``batch × completion`` over it), ``ttft_ms`` the prefill step and
    ``tpot_ms`` the decode steps."""
    if batch < 1:
        raise ValueError(f"a static batch has at least one request, not {batch}")
    eff = replica.eff
    whole = {
        "max_batch": max(eff.max_batch, batch),
        "max_num_batched_tokens": max(
            eff.max_num_batched_tokens, batch * int(replica.model.max_context_tokens)
        ),
    }
    replica = dataclasses.replace(replica, eff=eff.model_copy(update=whole))
    return offline_run(replica, traffic, n_requests=batch)


def evaluate(
    replica: Replica,
    traffic: Traffic,
    slo: SLO,
    *,
    capacity_model: str = "simulated",
    rate_rps: float | None = None,
    concurrency: int | None = None,
) -> Capacity:
    """What ``advisor roofline`` reports for one replica.

    With ``rate_rps``: the statistics at that rate (simulated). With ``concurrency``: the
    statistics with that many requests in flight (a closed loop of as many clients,
    :func:`closed_loop`), and the rate they reach. With a TTFT or TPOT limit: the SLO
    capacity. Without any: the offline maximum, the largest rate the replica keeps up with
    (the steady-state maximum of the step model, which the simulation reaches).
    """
    if rate_rps is None and concurrency is None:
        # without limits the search finds the largest rate the replica keeps up with: its
        # offline (saturation) maximum, which validate compares with offline runs
        return slo_capacity(replica, traffic, slo, capacity_model)
    if capacity_model != "simulated":
        flag = "--rate" if concurrency is None else "--concurrency"
        raise ValueError(f"{flag} needs the simulated capacity model")
    base = slo_capacity(replica, traffic, SLO(stat=slo.stat), "roofline")
    if not base.fits:
        return base
    if concurrency is not None:
        # requests beyond the engine's batch limit wait for a slot, as in the plans' engine
        res = closed_loop(replica, traffic, concurrency)
        return _at_load(res, slo, base, res.requests_per_s, "at this concurrency")
    res = simulate(replica, traffic, rate_rps)
    # a replica that keeps up serves the rate it is offered (the run's own throughput
    # differs from it by the draws' noise, a few percent); an overloaded one, its own
    if res.stable:
        return _at_load(res, slo, base, rate_rps, "at this rate")
    over = f"overloaded: the replica serves {res.requests_per_s:.3g} requests/s"
    return _at_load(res, slo, base, res.requests_per_s, "at this rate", over)


def _at_load(
    res: LoadResult, slo: SLO, base: Capacity, rps: float, where: str, reason: str = ""
) -> Capacity:
    """:func:`evaluate`'s answer at a given load: ``res``'s statistics, serving ``rps``
    requests/s; ``reason`` (else whether the limits are met ``where``)."""
    ok = slo.met_by(res)
    return Capacity(
        fits=True,
        meets_slo=ok,
        reason=reason or ("" if ok else f"the latency statistics {where} exceed the limits"),
        requests_per_s=rps,
        output_tokens_per_s=rps * res.output_tokens_per_s / res.requests_per_s,
        ttft_ms=res.ttft_ms[slo.stat],
        tpot_ms=res.tpot_ms[slo.stat],
        stat=slo.stat,
        capacity_model="simulated",
        upper_bound_rps=base.upper_bound_rps,
        batch=res.mean_batch,
    )
