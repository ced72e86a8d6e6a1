"""Section boundaries and repeat labels (A, B, C...) by spectral clustering of a beat recurrence graph.

The method of McFee & Ellis (2014, "Analyzing song structure with spectral
clustering"): beat-synchronous log-CQT and MFCC features; a recurrence graph
between beats with similar timbre and harmony (mutual k-nearest neighbours,
median-filtered along the diagonals so only repeated stretches count), joined
with a path graph between consecutive beats weighted so both halves matter
equally; the first eigenvectors of its normalised Laplacian cluster the beats
into `N_SECTION_TYPES` kinds. A boundary is where the kind changes; sections
shorter than `MIN_SECTION_S` join a neighbour. Sections whose average features
correlate closely are the same kind (a repeat); labels are letters in order of
first appearance.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np

from kellyd.song.frontend import SongSignal

N_SECTION_TYPES = 3
MIN_SECTION_S = 8.0
# Fewer beats than this: the whole song is one section.
MIN_BEATS = 16
RECURRENCE_WIDTH_BEATS = 3
DIAGONAL_FILTER_BEATS = 7
SAME_KIND_CORRELATION = 0.7


@dataclass(frozen=True)
class Section:
    start_s: float
    end_s: float
    label: str

    def to_json(self) -> dict:
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3), "label": self.label}


def _letters(codes: list[int]) -> list[str]:
    names: dict[int, str] = {}
    for code in codes:
        if code not in names:
            i = len(names)
            names[code] = string.ascii_uppercase[i % 26] + ("" if i < 26 else str(i // 26))
    return [names[c] for c in codes]


def beat_features(signal: SongSignal, boundaries_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log-CQT per beat (bins, m), MFCC per beat (13, m)), averaged between `boundaries_s` (m + 1,)."""
    import librosa

    from kellyd.song.harmony import beat_sync

    cqt = beat_sync(signal.cqt_db[::3], signal.cqt_frame_rate_hz, boundaries_s)
    mfcc = librosa.feature.mfcc(S=signal.mel_db, n_mfcc=13)
    return cqt, beat_sync(mfcc, signal.frame_rate_hz, boundaries_s)


def recurrence_affinity(features: np.ndarray, width: int) -> np.ndarray:
    """(m, m) affinity between beats that are mutual k-nearest neighbours (Euclidean, k = 2 sqrt(m)),
    at least `width` beats apart: exp(-d / median neighbour distance), else 0."""
    x = features.T.astype(np.float64)
    m = len(x)
    sq = np.sum(x * x, axis=1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0))
    near = np.abs(np.arange(m)[:, None] - np.arange(m)[None, :]) < width
    dist[near] = np.inf
    k = max(2, min(m - 1, 2 * int(np.ceil(np.sqrt(max(m - 2 * width + 1, 1))))))
    kth = np.partition(dist, k - 1, axis=1)[:, k - 1:k]
    neighbour = dist <= kth
    mutual = neighbour & neighbour.T & np.isfinite(dist)
    if not np.any(mutual):
        return np.zeros((m, m))
    bandwidth = max(float(np.median(dist[mutual])), 1e-9)
    return np.where(mutual, np.exp(-dist / bandwidth), 0.0)


def cluster_beats(cqt: np.ndarray, mfcc: np.ndarray, n_types: int | None = None) -> np.ndarray:
    """(m,) section kind of each beat from the Laplacian of the recurrence + path graph."""
    import librosa
    import scipy.linalg
    import scipy.ndimage
    import scipy.sparse.csgraph
    from scipy.cluster.vq import kmeans2

    m = cqt.shape[1]
    width = min(RECURRENCE_WIDTH_BEATS, max(1, m // 4))
    recurrence = recurrence_affinity(cqt, width)
    recurrence = librosa.segment.path_enhance(recurrence, DIAGONAL_FILTER_BEATS) if m > DIAGONAL_FILTER_BEATS else recurrence
    step = np.sum(np.diff(mfcc, axis=1) ** 2, axis=0)
    sigma = max(float(np.median(step)), 1e-9)
    path_weight = np.exp(-step / sigma)
    path = np.diag(path_weight, k=1) + np.diag(path_weight, k=-1)
    degree_path, degree_rec = path.sum(axis=1), recurrence.sum(axis=1)
    mu = float(degree_path.dot(degree_path + degree_rec) / max(np.sum((degree_path + degree_rec) ** 2), 1e-9))
    graph = mu * recurrence + (1 - mu) * path
    laplacian = scipy.sparse.csgraph.laplacian(graph, normed=True)
    k = min(N_SECTION_TYPES if n_types is None else n_types, m)
    # Only the k smallest eigenpairs are needed.
    _, vectors = scipy.linalg.eigh(laplacian, subset_by_index=[0, k - 1])
    features = scipy.ndimage.median_filter(vectors, size=(9, 1))
    features = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-9)
    rng = np.random.default_rng(0)  # fixed seed: the same song gives the same sections every time
    _, labels = kmeans2(features, k, minit="++", seed=rng)
    return labels


def _merge_short(starts: list[int], codes: list[int], times_s: np.ndarray, min_s: float,
                 features: np.ndarray) -> tuple[list[int], list[int]]:
    """Join each section shorter than `min_s` (shortest first) to the neighbour whose mean features
    (z-scored, (dims, beats)) correlate best with its own, then join neighbours of the same kind."""
    z = (features - features.mean(axis=1, keepdims=True)) / np.maximum(features.std(axis=1, keepdims=True), 1e-9)

    def mean(i: int) -> np.ndarray:
        end = starts[i + 1] if i + 1 < len(starts) else z.shape[1]
        return z[:, starts[i]:max(end, starts[i] + 1)].mean(axis=1)

    while len(starts) > 1:
        ends = starts[1:] + [len(times_s) - 1]
        lengths = [times_s[e] - times_s[s] for s, e in zip(starts, ends)]
        i = int(np.argmin(lengths))
        if lengths[i] >= min_s:
            break
        if i == 0:
            into_previous = False
        elif i == len(starts) - 1:
            into_previous = True
        else:
            here = mean(i)
            into_previous = np.corrcoef(here, mean(i - 1))[0, 1] >= np.corrcoef(here, mean(i + 1))[0, 1]
        if into_previous:
            del starts[i], codes[i]
        else:
            del starts[i + 1]
            codes[i] = codes[i + 1]
            del codes[i + 1]
    keep = [0] + [j for j in range(1, len(starts)) if codes[j] != codes[j - 1]]
    return [starts[j] for j in keep], [codes[j] for j in keep]


def _relabel_repeats(features: np.ndarray, starts: list[int], ends: list[int]) -> list[int]:
    """One code per section: a section whose mean (z-scored) features correlate at least SAME_KIND_CORRELATION
    with an earlier kind's first section repeats that kind, else it starts a new kind.

    The clustering must split the beats into a fixed number of kinds, so in a plain A B A song the
    two A's can land in different clusters; their features say they are the same music."""
    z = (features - features.mean(axis=1, keepdims=True)) / np.maximum(features.std(axis=1, keepdims=True), 1e-9)
    means = [z[:, s:e].mean(axis=1) for s, e in zip(starts, ends)]
    kinds: list[int] = []  # index of each kind's first section
    codes = []
    for i, m in enumerate(means):
        match = next((k for k, first in enumerate(kinds)
                      if np.corrcoef(m, means[first])[0, 1] >= SAME_KIND_CORRELATION), None)
        if match is None:
            kinds.append(i)
            match = len(kinds) - 1
        codes.append(match)
    return codes


def find_sections(signal: SongSignal, beats_s: np.ndarray) -> tuple[Section, ...]:
    """Sections of the song on its beat grid; one section "A" when it is too short to structure."""
    duration_s = signal.duration_s
    inner = np.asarray(beats_s, dtype=np.float64)
    inner = inner[(inner > 0) & (inner < duration_s)]
    if len(inner) < MIN_BEATS:
        return (Section(0.0, duration_s, "A"),)
    boundaries = np.concatenate(([0.0], inner, [duration_s]))
    cqt, mfcc = beat_features(signal, boundaries)
    kinds = cluster_beats(cqt, mfcc)
    change = np.flatnonzero(np.diff(kinds)) + 1
    starts = [0] + change.tolist()
    codes = [int(kinds[s]) for s in starts]
    starts, codes = _merge_short(starts, codes, boundaries, MIN_SECTION_S, np.vstack((cqt, mfcc)))
    ends = starts[1:] + [len(boundaries) - 1]
    codes = _relabel_repeats(np.vstack((cqt, mfcc)), starts, ends)
    # Neighbours that turned out to be the same kind are one section.
    keep = [0] + [j for j in range(1, len(starts)) if codes[j] != codes[j - 1]]
    starts, codes = [starts[j] for j in keep], [codes[j] for j in keep]
    ends = starts[1:] + [len(boundaries) - 1]
    return tuple(Section(float(boundaries[s]), float(boundaries[e]), label)
                 for s, e, label in zip(starts, ends, _letters(codes)))
