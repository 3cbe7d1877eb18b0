"""Acquisition effects: surface-coil shading, bSSFP banding, k-space truncation (blur, Gibbs
ringing) and complex Gaussian noise (Rician in magnitude images)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inline_ai.phantom.planning import ImagePlane

MIN_KSPACE_FRACTION = 0.6  # no series is blurred beyond 1 / 0.6 of its pixel size


@dataclass(frozen=True)
class AcquisitionSettings:
    """Per-series acquisition parameters."""

    snr: float  # mean blood (or reference tissue) signal / noise standard deviation
    phase_resolution: float  # fraction of k-space sampled along rows (phase encoding)
    read_resolution: float  # fraction along columns
    filter_strength: float  # 0 = none (strong ringing), 1 = Hann-like apodisation
    coil_strength: float  # 0 = body coil (flat), 1 = strong surface-coil falloff
    coil_decay_mm: float
    banding: bool
    banding_gradient: tuple[float, float]  # off-resonance cycles per mm along (row, col)
    banding_offset: float
    ghost: float = 0.0  # strength of a respiratory / motion ghost along the phase direction
    ghost_shift: float = 0.25  # ghost displacement, fraction of the rows
    noise_variation: float = 0.0  # spatial variation of the noise (parallel imaging g-factor)
    interpolation: float = 1.0  # reconstructed / acquired matrix (zero-filling): >1 correlates the noise


def draw_acquisition(sequence: str, rng: np.random.Generator) -> AcquisitionSettings:
    """Random acquisition settings in clinical ranges (SNR log-uniform over a wide range)."""
    low, high = {"cine": (12.0, 80.0), "lge": (6.0, 40.0), "t1": (15.0, 80.0)}[sequence]
    angle = rng.uniform(0, 2 * np.pi)
    cycles = rng.uniform(1.0 / 120.0, 1.0 / 40.0)
    return AcquisitionSettings(
        snr=float(np.exp(rng.uniform(np.log(low), np.log(high)))),
        phase_resolution=float(rng.uniform(0.65, 1.0)), read_resolution=float(rng.uniform(0.85, 1.0)),
        filter_strength=float(rng.uniform(0.3, 1.0)), coil_strength=float(rng.uniform(0.2, 1.0)),
        coil_decay_mm=float(rng.uniform(80.0, 160.0)),
        banding=bool(sequence == "cine" and rng.uniform() < 0.15),
        banding_gradient=(float(cycles * np.cos(angle)), float(cycles * np.sin(angle))),
        banding_offset=float(rng.uniform(0, 1)),
        ghost=float(rng.uniform(0.02, 0.08)) if rng.uniform() < 0.3 else 0.0,
        ghost_shift=float(rng.uniform(0.15, 0.5)), noise_variation=float(rng.uniform(0.0, 0.6)),
        interpolation=float(rng.uniform(1.05, 1.45)),
    )


def coil_sensitivity(plane: ImagePlane, settings: AcquisitionSettings, body_radii: tuple[float, float],
                     rng_seed: int) -> np.ndarray:
    """Receive sensitivity of anterior and posterior array elements, 1 near the heart on average.

    Evaluated on a grid 8 times coarser (the profile is smooth) and interpolated."""
    rng = np.random.default_rng(rng_seed)
    step = 8
    coarse_shape = (plane.shape[0] // step + 2, plane.shape[1] // step + 2)
    coarse = ImagePlane(centre=plane.centre, read_dir=plane.read_dir, phase_dir=plane.phase_dir,
                        pixel_spacing=(plane.pixel_spacing[0] * step, plane.pixel_spacing[1] * step),
                        shape=coarse_shape, thickness=plane.thickness)
    points = coarse.points().reshape(-1, 3)
    total = np.zeros(points.shape[0], dtype=np.float32)
    for side in (-1.0, 1.0):  # anterior (-y) and posterior (+y) coil arrays
        for lr in (-60.0, 0.0, 60.0):
            element = np.array([lr + rng.normal(0, 10), side * (body_radii[1] + 10.0), rng.normal(0, 40)],
                               dtype=np.float32)
            dist = np.sqrt(np.sum((points - element) ** 2, axis=1))
            total += rng.uniform(0.6, 1.0) * np.exp(-dist / settings.coil_decay_mm)
    total /= float(np.median(total))
    shading = ((1.0 - settings.coil_strength) + settings.coil_strength * total).reshape(coarse_shape)
    # coarse pixel k sits at fine pixel (k - (n_coarse - 1) / 2) * step + (n_fine - 1) / 2
    return (_interpolation(plane.shape[0], coarse_shape[0], step) @ shading
            @ _interpolation(plane.shape[1], coarse_shape[1], step).T).astype(np.float32)


def _interpolation(n_fine: int, n_coarse: int, step: int) -> np.ndarray:
    """Linear weights from a centred coarse grid (``step`` fine pixels apart) to the fine grid."""
    position = np.clip((np.arange(n_fine) - (n_fine - 1) / 2.0) / step + (n_coarse - 1) / 2.0, 0, n_coarse - 1)
    low = np.clip(np.floor(position).astype(int), 0, n_coarse - 2)
    frac = position - low
    weights = np.zeros((n_fine, n_coarse), dtype=np.float32)
    weights[np.arange(n_fine), low] = 1.0 - frac
    weights[np.arange(n_fine), low + 1] += frac
    return weights


def banding(shape: tuple[int, int], settings: AcquisitionSettings, pixel_mm: float) -> np.ndarray:
    """Dark bSSFP off-resonance stripes (multiplicative), or ones when the series has none."""
    if not settings.banding:
        return np.ones(shape, dtype=np.float32)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32) * pixel_mm
    centre_r, centre_c = shape[0] * pixel_mm / 2, shape[1] * pixel_mm / 2
    cycles = (settings.banding_gradient[0] * rows + settings.banding_gradient[1] * cols
              + 2e-5 * ((rows - centre_r) ** 2 + (cols - centre_c) ** 2) + settings.banding_offset)
    wrapped = (cycles % 1.0) - 0.5  # a band where the off-resonance phase is pi
    return (1.0 - 0.9 * np.exp(-(wrapped**2) / (2 * 0.03**2))).astype(np.float32)


def _window(n: int, fraction: float, filter_strength: float) -> np.ndarray:
    """k-space weighting along one axis: truncation to ``fraction`` plus optional apodisation."""
    k = np.fft.fftfreq(n) * 2.0  # -1..1
    kept = np.abs(k) <= fraction
    taper = 1.0 - filter_strength * 0.5 * (1.0 - np.cos(np.pi * np.clip(np.abs(k) / fraction, 0, 1)))
    return (kept * taper).astype(np.float32)


def noise_map(shape: tuple[int, int], settings: AcquisitionSettings, rng: np.random.Generator) -> np.ndarray:
    """Relative noise level over the image (parallel-imaging g-factor like), >= 0.5."""
    if settings.noise_variation <= 0:
        return np.ones(shape, dtype=np.float32)
    return np.clip(smooth_field(shape, rng, settings.noise_variation, cell=48), 0.5, None)


def kspace_weights(shape: tuple[int, int], settings: AcquisitionSettings) -> np.ndarray:
    """The reconstruction's k-space weighting: truncation to the acquired extent (phase / read
    resolution over the zero-filling factor) times the apodisation filter."""
    rows, cols = shape
    zero_fill = max(settings.interpolation, 1.0)
    phase = max(settings.phase_resolution / zero_fill, MIN_KSPACE_FRACTION)
    read = max(settings.read_resolution / zero_fill, MIN_KSPACE_FRACTION)
    return (_window(rows, phase, settings.filter_strength)[:, None]
            * _window(cols, read, settings.filter_strength)[None, :])


def acquire(image: np.ndarray, settings: AcquisitionSettings, rng: np.random.Generator, noise_reference: float,
            signed: bool = False, noise_level: np.ndarray | None = None) -> np.ndarray:
    """Complex Gaussian noise (times ``noise_level``, a per-pixel factor) added in k-space, then the
    k-space weighting of :func:`kspace_weights`, so the noise is filtered like the image (smooth,
    spatially correlated, standard deviation kept at ``noise_reference / snr``); magnitude
    (Rician) unless ``signed`` (PSIR and maps: real part, Gaussian)."""
    weights = kspace_weights(image.shape, settings)
    sigma = noise_reference / settings.snr / np.sqrt(max(float(np.mean(weights**2)), 1e-6))
    if noise_level is not None:
        sigma = sigma * noise_level
    noise = rng.normal(0.0, 1.0, size=image.shape) + 1j * rng.normal(0.0, 1.0, size=image.shape)
    noisy = np.fft.ifft2(np.fft.fft2(image + noise * sigma) * weights)
    if settings.ghost > 0:
        noisy = noisy + settings.ghost * np.roll(noisy, int(settings.ghost_shift * image.shape[0]), axis=0)
    out = noisy.real if signed else np.abs(noisy)
    return out.astype(np.float32)


def linear_upsampling(n_out: int, n_in: int) -> np.ndarray:
    """``[n_out, n_in]`` linear-interpolation weights spreading n_in samples evenly over n_out."""
    position = np.linspace(0.0, n_in - 1.0, n_out)
    low = np.clip(np.floor(position).astype(int), 0, n_in - 2) if n_in > 1 else np.zeros(n_out, dtype=int)
    weights = np.zeros((n_out, n_in), dtype=np.float32)
    if n_in == 1:
        weights[:, 0] = 1.0
        return weights
    frac = position - low
    weights[np.arange(n_out), low] = 1.0 - frac
    weights[np.arange(n_out), low + 1] += frac
    return weights


def smooth_field(shape: tuple[int, int], rng: np.random.Generator, amplitude: float, cell: int = 16) -> np.ndarray:
    """A smooth random multiplicative field ``1 + amplitude * noise`` on the image grid (bilinear)."""
    coarse = rng.normal(0.0, 1.0, size=(shape[0] // cell + 2, shape[1] // cell + 2)).astype(np.float32)
    rows = linear_upsampling(shape[0], coarse.shape[0])
    cols = linear_upsampling(shape[1], coarse.shape[1])
    return (1.0 + amplitude * (rows @ coarse @ cols.T)).astype(np.float32)


def vessel_field(shape: tuple[int, int], rng: np.random.Generator, pixel_mm: float, count: int = 60) -> np.ndarray:
    """Coverage 0..1 of small round vessel cross-sections scattered over the image (used in lungs)."""
    field = np.zeros(shape, dtype=np.float32)
    for _ in range(count):
        r0, c0 = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        radius = rng.uniform(1.0, 4.0) / pixel_mm
        half = int(np.ceil(radius + 2))
        r_lo, r_hi = max(int(r0) - half, 0), min(int(r0) + half + 1, shape[0])
        c_lo, c_hi = max(int(c0) - half, 0), min(int(c0) + half + 1, shape[1])
        if r_lo >= r_hi or c_lo >= c_hi:
            continue
        rr, cc = np.ogrid[r_lo:r_hi, c_lo:c_hi]
        cover = np.clip(radius + 0.5 - np.hypot(rr - r0, cc - c0), 0.0, 1.0) * rng.uniform(0.4, 1.0)
        field[r_lo:r_hi, c_lo:c_hi] = np.maximum(field[r_lo:r_hi, c_lo:c_hi], cover)
    return field
