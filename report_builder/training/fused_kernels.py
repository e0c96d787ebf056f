"""The fused train step's two Triton kernels; fused.py launches them, engine.py's written-out step is the reference.

One stack of K models, each on its own batch of B examples; D inputs, H hidden units, C classes.
All tensors are contiguous:
  train_x (N, D) fp32 and train_y (N,) int64: the whole training set; index (K, B) int64: this step's rows;
  w1 (K, H, D), b1 (K, 1, H), w2 (K, C, H), b2 (K, 1, C): the parameters, in nn.Linear's layout;
  grads, exp_avg, exp_avg_sq (K, P), P = H·D + H + C·H + C: each model's gradient and optimizer moments,
    its four parameters one after another in that order (SGD keeps its momentum buffer in exp_avg);
  hidden, grad_pre (K, B, H) and grad_logits (K, B, C): what the first kernel hands the second;
  partial (K, row blocks, 3) fp64: each row block's loss, active count and squared ReLU gradient;
  settings (K, 4) fp32: each model's lr, momentum, Adam (1) or SGD (0), zero_grad = false (1) or true (0);
  adam (3,) fp64: the step count t, 1 − β1ᵗ and √(1 − β2ᵗ).

Matrix products use input_precision="ieee" (full fp32, as torch's matmul does by default): TF32 would
round the inputs to 10 bits and drift from the written-out step.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def forward_backward_kernel(x_ptr, y_ptr, index_ptr, w1_ptr, b1_ptr, w2_ptr, b2_ptr,
                            hidden_ptr, grad_pre_ptr, grad_logits_ptr, partial_ptr, adam_ptr,
                            B, D, H, C, log_beta1, log_beta2,
                            BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_H: tl.constexpr,
                            BLOCK_C: tl.constexpr):
    """Program (k, m) takes rows m·BLOCK_M … of model k's batch: forward, loss, ∂loss/∂logits and
    ∂loss/∂(ReLU input) of those rows, and their sums for the loss and the probes."""
    k = tl.program_id(0)
    m = tl.program_id(1)
    rows = m * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < B
    example = tl.load(index_ptr + k * B + rows, mask=row_ok, other=0)     # (BLOCK_M,) rows of train_x
    hs = tl.arange(0, BLOCK_H)
    h_ok = hs < H
    cs = tl.arange(0, BLOCK_C)
    c_ok = cs < C

    # pre = x · w1ᵀ + b1, (BLOCK_M, H); w1 is read transposed, (BLOCK_D, H) at a time
    pre = tl.zeros((BLOCK_M, BLOCK_H), dtype=tl.float32)
    for d0 in range(0, D, BLOCK_D):
        ds = d0 + tl.arange(0, BLOCK_D)
        d_ok = ds < D
        x = tl.load(x_ptr + example[:, None] * D + ds[None, :], mask=row_ok[:, None] & d_ok[None, :], other=0.0)
        w1t = tl.load(w1_ptr + k * H * D + hs[None, :] * D + ds[:, None], mask=d_ok[:, None] & h_ok[None, :],
                      other=0.0)
        pre += tl.dot(x, w1t, input_precision="ieee")
    pre += tl.load(b1_ptr + k * H + hs, mask=h_ok, other=0.0)[None, :]
    hidden = tl.maximum(pre, 0.0)

    # logits = hidden · w2ᵀ + b2, (BLOCK_M, C); padded classes at −∞ vanish from the softmax
    w2t = tl.load(w2_ptr + k * C * H + cs[None, :] * H + hs[:, None], mask=h_ok[:, None] & c_ok[None, :],
                  other=0.0)                                                 # (BLOCK_H, BLOCK_C)
    logits = tl.dot(hidden, w2t, input_precision="ieee")
    logits += tl.load(b2_ptr + k * C + cs, mask=c_ok, other=0.0)[None, :]
    logits = tl.where(c_ok[None, :], logits, float("-inf"))
    shifted = logits - tl.max(logits, axis=1)[:, None]
    exp = tl.exp(shifted)
    total = tl.sum(exp, axis=1)
    label = tl.load(y_ptr + example, mask=row_ok, other=0)
    one_hot = cs[None, :] == label[:, None]
    picked = tl.sum(tl.where(one_hot, shifted, 0.0), axis=1) - tl.log(total)   # log p(true class)

    # in the forward pass this was: loss = −mean(log softmax(logits)[label]); so now we have:
    # d loss/d logits = (softmax − one-hot) / B, zero on padded rows and classes
    grad_logits = (exp / total[:, None] - one_hot.to(tl.float32)) / B
    grad_logits = tl.where(row_ok[:, None] & c_ok[None, :], grad_logits, 0.0)
    # logits = hidden · w2ᵀ, hidden = max(pre, 0); so d loss/d pre = (grad_logits · w2) where pre > 0
    grad_pre = tl.where(pre > 0, tl.dot(grad_logits, tl.trans(w2t), input_precision="ieee"), 0.0)

    at = (k * B + rows)[:, None]
    tl.store(hidden_ptr + at * H + hs[None, :], hidden, mask=row_ok[:, None] & h_ok[None, :])
    tl.store(grad_pre_ptr + at * H + hs[None, :], grad_pre, mask=row_ok[:, None] & h_ok[None, :])
    tl.store(grad_logits_ptr + at * C + cs[None, :], grad_logits, mask=row_ok[:, None] & c_ok[None, :])

    # The probes as the written-out step takes them: positive ReLU inputs, and Σ (∂loss/∂pre)² in fp64.
    block = partial_ptr + (k * tl.num_programs(1) + m) * 3
    loss = -tl.sum(tl.where(row_ok, picked, 0.0), axis=0)
    active = tl.sum(((pre > 0) & row_ok[:, None] & h_ok[None, :]).to(tl.float64))
    grad_pre_64 = grad_pre.to(tl.float64)
    tl.store(block, loss.to(tl.float64))
    tl.store(block + 1, active)
    tl.store(block + 2, tl.sum(grad_pre_64 * grad_pre_64))

    # Adam's step count and bias corrections, once per step, in fp64 (the second kernel reads them after this
    # one has finished: kernels on one stream run in order).
    if (k == 0) & (m == 0):
        t = tl.load(adam_ptr) + 1.0
        tl.store(adam_ptr, t)
        tl.store(adam_ptr + 1, 1.0 - tl.exp(t * log_beta1))
        tl.store(adam_ptr + 2, tl.sqrt(1.0 - tl.exp(t * log_beta2)))


@triton.jit
def _step_parameters(param_ptr, grad_ptr, exp_avg_ptr, exp_avg_sq_ptr, offsets, ok, grad,
                     lr, momentum, adam, keep, step_size, bias_correction2_sqrt, beta1, beta2, eps):
    """Store the gradient (added to the kept one under zero_grad = false), then step the parameters, as
    torch's fused Adam and SGD kernels do (SGD's first momentum step from a zero buffer is the gradient)."""
    if keep != 0:
        grad += tl.load(grad_ptr + offsets, mask=ok, other=0.0)
    tl.store(grad_ptr + offsets, grad, mask=ok)
    param = tl.load(param_ptr + offsets, mask=ok, other=0.0)
    if adam != 0:
        exp_avg = beta1 * tl.load(exp_avg_ptr + offsets, mask=ok, other=0.0) + (1 - beta1) * grad
        exp_avg_sq = beta2 * tl.load(exp_avg_sq_ptr + offsets, mask=ok, other=0.0) + (1 - beta2) * grad * grad
        tl.store(exp_avg_ptr + offsets, exp_avg, mask=ok)
        tl.store(exp_avg_sq_ptr + offsets, exp_avg_sq, mask=ok)
        param -= step_size * exp_avg / (tl.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps)
    else:
        if momentum != 0:
            grad = momentum * tl.load(exp_avg_ptr + offsets, mask=ok, other=0.0) + grad
            tl.store(exp_avg_ptr + offsets, grad, mask=ok)
        param -= lr * grad
    tl.store(param_ptr + offsets, param, mask=ok)


@triton.jit
def update_kernel(x_ptr, index_ptr, hidden_ptr, grad_pre_ptr, grad_logits_ptr, partial_ptr,
                  w1_ptr, b1_ptr, w2_ptr, b2_ptr, grads_ptr, exp_avg_ptr, exp_avg_sq_ptr,
                  settings_ptr, adam_ptr, loss_sum_ptr, active_ptr, grad_sq_ptr,
                  B, D, H, C, row_blocks, beta1, beta2, eps,
                  TILE_H: tl.constexpr, TILE_D: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr,
                  BLOCK_C: tl.constexpr, BLOCK_ROW_BLOCKS: tl.constexpr, PROBES: tl.constexpr):
    """Program (k, t) owns a tile of model k's parameters: it computes their gradient from the batch and
    steps them and their moments in place. Tiles 0 … of (TILE_H, TILE_D) cover w1 (those of the first
    column of tiles also b1); the last tile is w2 and b2 whole, and adds the step's loss and probes to the
    epoch's sums."""
    k = tl.program_id(0)
    t = tl.program_id(1)
    lr = tl.load(settings_ptr + k * 4)
    momentum = tl.load(settings_ptr + k * 4 + 1)
    adam = tl.load(settings_ptr + k * 4 + 2)
    keep = tl.load(settings_ptr + k * 4 + 3)
    step_size = (lr / tl.load(adam_ptr + 1)).to(tl.float32)
    bias_correction2_sqrt = tl.load(adam_ptr + 2).to(tl.float32)
    per_model = H * D + H + C * H + C
    grads_ptr += k * per_model
    exp_avg_ptr += k * per_model
    exp_avg_sq_ptr += k * per_model
    d_tiles = tl.cdiv(D, TILE_D)
    w1_tiles = tl.cdiv(H, TILE_H) * d_tiles
    if t < w1_tiles:
        hs = (t // d_tiles) * TILE_H + tl.arange(0, TILE_H)
        ds = (t % d_tiles) * TILE_D + tl.arange(0, TILE_D)
        h_ok = hs < H
        d_ok = ds < D
        # in the forward pass this was: pre = x · w1ᵀ + b1; so now: d w1 = grad_preᵀ · x, d b1 = Σ_rows grad_pre
        grad_w1 = tl.zeros((TILE_H, TILE_D), dtype=tl.float32)
        grad_b1 = tl.zeros((TILE_H,), dtype=tl.float32)
        for b0 in range(0, B, BLOCK_B):
            rows = b0 + tl.arange(0, BLOCK_B)
            row_ok = rows < B
            example = tl.load(index_ptr + k * B + rows, mask=row_ok, other=0)
            grad_pre = tl.load(grad_pre_ptr + (k * B + rows)[:, None] * H + hs[None, :],
                               mask=row_ok[:, None] & h_ok[None, :], other=0.0)   # (BLOCK_B, TILE_H)
            x = tl.load(x_ptr + example[:, None] * D + ds[None, :], mask=row_ok[:, None] & d_ok[None, :],
                        other=0.0)                                               # (BLOCK_B, TILE_D)
            grad_w1 += tl.dot(tl.trans(grad_pre), x, input_precision="ieee")
            grad_b1 += tl.sum(grad_pre, axis=0)
        _step_parameters(w1_ptr + k * H * D, grads_ptr, exp_avg_ptr, exp_avg_sq_ptr,
                         hs[:, None] * D + ds[None, :], h_ok[:, None] & d_ok[None, :], grad_w1,
                         lr, momentum, adam, keep, step_size, bias_correction2_sqrt, beta1, beta2, eps)
        if t % d_tiles == 0:
            _step_parameters(b1_ptr + k * H, grads_ptr + H * D, exp_avg_ptr + H * D, exp_avg_sq_ptr + H * D,
                             hs, h_ok, grad_b1,
                             lr, momentum, adam, keep, step_size, bias_correction2_sqrt, beta1, beta2, eps)
    else:
        # (names apart from the first branch's: Triton wants a name to keep one type across branches)
        units = tl.arange(0, BLOCK_H)
        classes = tl.arange(0, BLOCK_C)
        unit_ok = units < H
        class_ok = classes < C
        # in the forward pass this was: logits = hidden · w2ᵀ + b2; so now: d w2 = grad_logitsᵀ · hidden
        grad_w2 = tl.zeros((BLOCK_C, BLOCK_H), dtype=tl.float32)
        grad_b2 = tl.zeros((BLOCK_C,), dtype=tl.float32)
        for b0 in range(0, B, BLOCK_B):
            rows = b0 + tl.arange(0, BLOCK_B)
            row_ok = rows < B
            grad_logits = tl.load(grad_logits_ptr + (k * B + rows)[:, None] * C + classes[None, :],
                                  mask=row_ok[:, None] & class_ok[None, :], other=0.0)   # (BLOCK_B, BLOCK_C)
            hidden = tl.load(hidden_ptr + (k * B + rows)[:, None] * H + units[None, :],
                             mask=row_ok[:, None] & unit_ok[None, :], other=0.0)        # (BLOCK_B, BLOCK_H)
            grad_w2 += tl.dot(tl.trans(grad_logits), hidden, input_precision="ieee")
            grad_b2 += tl.sum(grad_logits, axis=0)
        first_layer = H * D + H
        _step_parameters(w2_ptr + k * C * H, grads_ptr + first_layer, exp_avg_ptr + first_layer,
                         exp_avg_sq_ptr + first_layer, classes[:, None] * H + units[None, :], class_ok[:, None] & unit_ok[None, :],
                         grad_w2, lr, momentum, adam, keep, step_size, bias_correction2_sqrt, beta1, beta2, eps)
        second_weights = first_layer + C * H
        _step_parameters(b2_ptr + k * C, grads_ptr + second_weights, exp_avg_ptr + second_weights,
                         exp_avg_sq_ptr + second_weights, classes, class_ok, grad_b2,
                         lr, momentum, adam, keep, step_size, bias_correction2_sqrt, beta1, beta2, eps)

        # The epoch's sums, in a fixed order (no atomics: the same batch always gives the same sums).
        blocks = tl.arange(0, BLOCK_ROW_BLOCKS)
        block_ok = blocks < row_blocks
        sums = partial_ptr + (k * row_blocks + blocks) * 3
        loss = tl.sum(tl.load(sums, mask=block_ok, other=0.0), axis=0)
        tl.store(loss_sum_ptr + k, tl.load(loss_sum_ptr + k) + (loss / B).to(tl.float32))
        if PROBES:
            tl.store(active_ptr + k, tl.load(active_ptr + k) + tl.sum(tl.load(sums + 1, mask=block_ok, other=0.0), axis=0))
            tl.store(grad_sq_ptr + k, tl.load(grad_sq_ptr + k) + tl.sum(tl.load(sums + 2, mask=block_ok, other=0.0), axis=0))
