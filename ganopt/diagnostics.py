"""Why a strategy fails: game-dynamics diagnostics for every run of a stack at once.

With v(w) = (∇θ L_G, ∇φ L_D) the joint field and J its Jacobian in w = (θ, φ):

- spectrum (Mescheder et al. 2017): eigenvalues of J.  A point where every eigenvalue has a
  positive real part attracts gradient descent; eigenvalues near the imaginary axis (large
  imaginary, small real part) are the rotation that defeats it.  Recorded: the N_EIGENVALUES
  largest by magnitude, the largest magnitude and the most negative real part.
- each player's own Hessian (∇²θ L_G and ∇²φ L_D, the diagonal blocks of J): their extreme
  eigenvalues say whether G sits at a minimum of its loss and D at a minimum of its own (a
  maximum of the value for a zero-sum game).
- rotation share (Balduzzi et al. 2018: J = S + A, S symmetric "potential" part, A
  antisymmetric "Hamiltonian" part): ‖A‖²_F / (‖A‖²_F + ‖S‖²_F), 1 for a purely rotational
  game (bilinear), 0 for a potential one.
- path angle (Berard et al. 2020): along the line w(α) = w₀ + α (w₁ − w₀) from a run's start w₀
  to its end w₁, the cosine between v(w(α)) and w₁ − w₀ and the norm of v; a rotating game
  shows near-zero cosines with a bump around the end point.

A run with at most EXACT_LIMIT parameters (the analytic games) gets its dense J, built column by
column from Jacobian-vector products, and exact eigen-decompositions and Frobenius norms; larger
ones get batched Arnoldi (ARNOLDI_STEPS Ritz values per run) and Hutchinson estimates with
PROBES Rademacher probes drawn from the run's own seed, so no run depends on its stack.
Diagnostics leave the training untouched: they read parameters, never move them, and restore
the stack's draw and gradient-evaluation counters (their cost is counted apart).
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager

import numpy as np
import torch

from .metrics import Metric
from .rng import Stream, stream_keys, uniform
from .updates import per_run_dot

EXACT_LIMIT = 64
ARNOLDI_STEPS = 20
PROBES = 16
N_EIGENVALUES = 6
PATH_ALPHAS = tuple(round(-0.5 + 0.1 * i, 1) for i in range(21))  # -0.5 .. 1.5

SPECTRUM_METRICS = (
    Metric("jac_eig_max_abs", "largest |eigenvalue| of the game Jacobian", show=False),
    Metric("jac_eig_min_real", "most negative real part of a Jacobian eigenvalue", show=False),
    Metric("hess_g_min", "smallest eigenvalue of ∇²θ L_G", show=False),
    Metric("hess_g_max", "largest eigenvalue of ∇²θ L_G", show=False),
    Metric("hess_d_min", "smallest eigenvalue of ∇²φ L_D", show=False),
    Metric("hess_d_max", "largest eigenvalue of ∇²φ L_D", show=False),
    *(Metric(f"jac_eig{i}_{part}", f"Jacobian eigenvalue {i} ({part})", show=False, plot=f"eigenvalue-{part}")
      for i in range(N_EIGENVALUES) for part in ("re", "im")),
)
ROTATION_METRICS = (
    Metric("rotation_share", "rotational share of the game Jacobian", show=False, plot="rotation"),
    Metric("diagnostics_stack_s", "diagnostics seconds of the run's whole stack at this evaluation", show=False,
           per_stack=True),
)
PATH_METRICS = tuple(m for j in range(len(PATH_ALPHAS)) for m in (
    Metric(f"path_cos{j}", f"cos(v, w₁ − w₀) at α = {PATH_ALPHAS[j]}", show=False, plot="path-angle"),
    Metric(f"path_norm{j}", f"‖v‖ at α = {PATH_ALPHAS[j]}", show=False)))
DIAGNOSTIC_METRICS = SPECTRUM_METRICS + ROTATION_METRICS + PATH_METRICS


SPECTRUM_AT = (0.0, 0.5, 1.0)  # default: the first, middle and last evaluation


def spectrum_steps(steps: int, eval_every: int, at: tuple[float, ...] = SPECTRUM_AT) -> set[int]:
    """The evaluations that get a spectrum: for each fraction of the budget in `at`, the
    evaluation nearest to it (the earlier one on a tie)."""
    evaluations = sorted({0, *range(eval_every, steps + 1, eval_every), steps})
    return {min(evaluations, key=lambda s: (abs(s - f * steps), s)) for f in at}


@contextmanager
def untouched(stack):
    """Restore the stack's draw and evaluation counters: diagnostics are not training."""
    draws, grad_evals, last = stack.draws, stack.grad_evals, dict(stack.last)
    try:
        yield
    finally:
        stack.draws, stack.grad_evals, stack.last = draws, grad_evals, last


def _shapes(stack):
    return [p.shape[1:] for p in stack.game.theta], [p.shape[1:] for p in stack.game.phi]


def parameters_per_run(stack) -> int:
    return sum(p[0].numel() for p in stack.game.theta + stack.game.phi)


class FieldDerivatives:
    """J·u and Jᵀ·u at the stack's current point on the draw `draw`, for every run at once;
    vectors are flat [K, n] tensors (θ then φ, parameter by parameter)."""

    def __init__(self, stack, draw: int):
        self.stack = stack
        stack.draws = draw
        self.field = stack.field("gd", create_graph=True)
        self.theta_shapes, self.phi_shapes = _shapes(stack)
        self.k = stack.game.theta[0].shape[0]
        self.n_theta = sum(math.prod(s) for s in self.theta_shapes)
        self.n = self.n_theta + sum(math.prod(s) for s in self.phi_shapes)
        self.dtype = stack.game.theta[0].dtype
        self._dense = None

    def split(self, flat: torch.Tensor):
        parts, start = [], 0
        for shape in self.theta_shapes + self.phi_shapes:
            size = math.prod(shape)
            parts.append(flat[:, start:start + size].reshape(self.k, *shape).to(self.dtype))
            start += size
        n = len(self.theta_shapes)
        return parts[:n], parts[n:]

    @staticmethod
    def join(pair) -> torch.Tensor:
        return torch.cat([t.flatten(1).double() for t in (*pair[0], *pair[1])], dim=1)

    def jvp(self, flat):
        return self.join(self.stack.jvp(self.field, self.split(flat)))

    def vjp(self, flat):
        return self.join(self.stack.vjp(self.field, self.split(flat)))

    def dense(self) -> torch.Tensor:
        """J per run [K, n, n] (float64), column j = J e_j (built once)."""
        if self._dense is None:
            eye = torch.eye(self.n, dtype=torch.float64, device=self.field[0][0].device)
            columns = [self.jvp(eye[j].expand(self.k, self.n)) for j in range(self.n)]
            self._dense = torch.stack(columns, dim=2)
        return self._dense

    def field_flat(self) -> torch.Tensor:
        return self.join((self.field[0], self.field[1]))


def _arnoldi(matvec, start: torch.Tensor, steps: int) -> torch.Tensor:
    """Ritz values [K, steps] (complex, on the CPU) of the operator per run, from `steps` Arnoldi
    steps with modified Gram-Schmidt, reorthogonalised once; a run whose Krylov space is
    exhausted early has exact eigenvalues there and NaN after them."""
    k = start.shape[0]
    q = [start / start.norm(dim=1, keepdim=True).clamp_min(1e-300)]
    h = torch.zeros(k, steps + 1, steps, dtype=torch.float64, device=start.device)
    size = torch.full((k,), steps, dtype=torch.int64)  # per run: Arnoldi steps before its space was exhausted
    for j in range(steps):
        w = matvec(q[j])
        for _ in range(2):
            for i in range(j + 1):
                c = (q[i] * w).sum(1)
                h[:, i, j] += c
                w = w - c[:, None] * q[i]
        norm = w.norm(dim=1)
        h[:, j + 1, j] = norm
        exhausted = (norm <= 1e-10 * h[:, : j + 1, : j + 1].abs().amax((1, 2)).clamp_min(1e-300)).cpu()
        size = torch.where(exhausted & (size == steps), torch.full_like(size, j + 1), size)
        q.append(torch.where(norm[:, None] > 1e-10, w / norm.clamp_min(1e-300)[:, None], torch.zeros_like(w)))
    ritz = torch.full((k, steps), complex(math.nan, math.nan), dtype=torch.complex128)
    for r in range(k):  # the Ritz values of each run's own Hessenberg block (no spurious zeros)
        m = int(size[r])
        ritz[r, :m] = torch.linalg.eigvals(h[r, :m, :m].cpu())
    return ritz


def _nanmin(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x.isnan(), torch.inf, x).min(1).values


def _nanmax(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x.isnan(), -torch.inf, x).max(1).values


def _largest(eig: torch.Tensor, count: int) -> torch.Tensor:
    """Per run the `count` eigenvalues largest in magnitude, a conjugate pair's positive
    imaginary part first (NaN, from an exhausted Krylov space, last)."""
    out = []
    for row in eig.cpu().numpy():
        magnitude = np.where(np.isnan(row.real), -np.inf, np.abs(row))
        order = np.lexsort((-np.nan_to_num(row.imag), -np.round(magnitude, 12)))
        out.append(row[order][:count])
    return torch.as_tensor(np.array(out))


def _probe_keys(seeds: torch.Tensor, counter: int) -> torch.Tensor:
    return stream_keys(seeds, Stream.DIAGNOSTICS, counter)


def _rademacher(seeds: torch.Tensor, counter: int, n: int) -> torch.Tensor:
    u = uniform(_probe_keys(seeds, counter), (n,), torch.float64)
    return torch.where(u < 0.5, -1.0, 1.0).to(torch.float64)


def spectrum(d: FieldDerivatives, seeds: torch.Tensor) -> dict[str, torch.Tensor]:
    """The spectrum metrics (SPECTRUM_METRICS) per run."""
    n, n_theta = d.n, d.n_theta
    if n <= EXACT_LIMIT:
        jac = d.dense()
        eig = torch.linalg.eigvals(jac).cpu()
        hess_g = torch.linalg.eigvalsh((jac[:, :n_theta, :n_theta] + jac[:, :n_theta, :n_theta].transpose(1, 2)) / 2)
        hess_d = torch.linalg.eigvalsh((jac[:, n_theta:, n_theta:] + jac[:, n_theta:, n_theta:].transpose(1, 2)) / 2)
        g_min, g_max, d_min, d_max = (x.cpu() for x in (hess_g[:, 0], hess_g[:, -1], hess_d[:, 0], hess_d[:, -1]))
    else:
        steps = min(ARNOLDI_STEPS, n)
        eig = _arnoldi(d.jvp, _rademacher(seeds, 0, n), steps)
        def block_g(u):  # ∇²θ L_G u: the θ part of J (u, 0)
            return d.jvp(torch.cat([u, u.new_zeros(d.k, n - n_theta)], 1))[:, :n_theta]

        def block_d(u):
            return d.jvp(torch.cat([u.new_zeros(d.k, n_theta), u], 1))[:, n_theta:]

        ritz_g = _arnoldi(block_g, _rademacher(seeds, 1, n_theta), min(ARNOLDI_STEPS, n_theta)).real
        ritz_d = _arnoldi(block_d, _rademacher(seeds, 2, n - n_theta), min(ARNOLDI_STEPS, n - n_theta)).real
        g_min, g_max = _nanmin(ritz_g), _nanmax(ritz_g)
        d_min, d_max = _nanmin(ritz_d), _nanmax(ritz_d)
    top = _largest(eig, N_EIGENVALUES)
    out = {"jac_eig_max_abs": _nanmax(eig.abs()), "jac_eig_min_real": _nanmin(eig.real),
           "hess_g_min": g_min, "hess_g_max": g_max, "hess_d_min": d_min, "hess_d_max": d_max}
    for i in range(N_EIGENVALUES):
        present = i < top.shape[1]
        out[f"jac_eig{i}_re"] = top[:, i].real if present else torch.full((d.k,), math.nan, dtype=torch.float64)
        out[f"jac_eig{i}_im"] = top[:, i].imag if present else torch.full((d.k,), math.nan, dtype=torch.float64)
    return out


def rotation_share(d: FieldDerivatives, seeds: torch.Tensor) -> torch.Tensor:
    """‖A‖²_F / (‖A‖²_F + ‖S‖²_F) per run: exact from the dense J, else Hutchinson (E‖Mz‖² =
    ‖M‖²_F for Rademacher z)."""
    if d.n <= EXACT_LIMIT:
        jac = d.dense()
        sym2 = ((jac + jac.transpose(1, 2)) / 2).pow(2).sum((1, 2))
        anti2 = ((jac - jac.transpose(1, 2)) / 2).pow(2).sum((1, 2))
    else:
        sym2 = anti2 = 0.0
        for p in range(PROBES):
            z = _rademacher(seeds, 10 + p, d.n)
            jz, jtz = d.jvp(z), d.vjp(z)
            sym2 = sym2 + ((jz + jtz) / 2).pow(2).sum(1) / PROBES
            anti2 = anti2 + ((jz - jtz) / 2).pow(2).sum(1) / PROBES
    total = sym2 + anti2
    return torch.where(total > 0, anti2 / total.clamp_min(1e-300), torch.full_like(total, math.nan))


def path_angles(stack, start: list[torch.Tensor], draw: int) -> dict[str, torch.Tensor]:
    """Berard et al. 2020's path-angle curve per run, from `start` (θ₀ then φ₀ as at step 0) to
    the current point: `path_cos{j}` and `path_norm{j}` at α = PATH_ALPHAS[j]."""
    game = stack.game
    end = [p.detach().clone() for p in game.theta + game.phi]
    delta = [e - s for e, s in zip(end, start)]
    delta_norm = per_run_dot(delta, delta, torch.float64).sqrt()
    n_theta = len(game.theta)
    out = {}
    for j, alpha in enumerate(PATH_ALPHAS):
        point = [(s + alpha * dl).requires_grad_() for s, dl in zip(start, delta)]
        with game.parameters_at(point[:n_theta], point[n_theta:]):
            stack.draws = draw
            grad_g, grad_d = stack.field("gd")
        v = [*grad_g, *grad_d]
        v_norm = per_run_dot(v, v, torch.float64).sqrt()
        cos = per_run_dot(v, delta, torch.float64) / (v_norm * delta_norm)
        out[f"path_cos{j}"] = torch.where((v_norm > 0) & (delta_norm > 0), cos, torch.full_like(cos, math.nan))
        out[f"path_norm{j}"] = v_norm
    return out


def diagnose(stack, seeds: torch.Tensor, with_spectrum: bool, start: list[torch.Tensor] | None
             ) -> dict[str, torch.Tensor]:
    """The diagnostics of one evaluation for every run of the stack (float64 [K] each): the
    rotation share always, the spectrum when asked, the path angles when `start` is given."""
    began = time.perf_counter()
    k = seeds.shape[0]
    with untouched(stack), torch.enable_grad():
        draw = stack.draws
        d = FieldDerivatives(stack, draw)
        out = {"rotation_share": rotation_share(d, seeds)}
        if with_spectrum:
            out.update(spectrum(d, seeds))
        del d
        if start is not None:
            out.update(path_angles(stack, start, draw))
    # the stack's seconds, not a per-run share (a share would depend on the stack-mates)
    out["diagnostics_stack_s"] = torch.full((k,), time.perf_counter() - began, dtype=torch.float64)
    return {name: v.detach().double().cpu() for name, v in out.items()}

