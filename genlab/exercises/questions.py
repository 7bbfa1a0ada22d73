"""Concept questions of the graded labs: what each asks for, and a check that keeps the answer secret.

A lab's questions are written in its notebook (a Markdown cell with the prompts); this
module holds, per question, only what a check needs: the kind of answer (a number to a
stated precision, or one of a few choices), and a salted hash of the canonical answer.
The answers themselves live only in ``solutions/`` (the cell tagged ``question``); the
grader reads them from there (``genlab.grading.questions``). In a notebook::

    answer = genlab.questions("02")   # lists the lab's questions
    answer("q1", 2.5)                 # prints "q1: right." or "q1: not yet ..."

A hash of a number rounded to two decimals, or of one of four letters, can be found by
trying every value: the hash keeps the answer out of the package's text and the check
from printing it, which is all it is for. The grade is what the notebook's answer cell
says, read by the grader.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from .hints import UnknownNameError

SALT = "genlab-questions-v1"


@dataclass(frozen=True)
class Question:
    """One concept question.

    Attributes:
        qid: its id in the lab and its gradebook column, ``"q1"``, ``"q2"``...
        kind: ``"number"`` (a real number) or ``"choice"`` (one letter of ``choices``).
        topic: a few words on what it is about (the prompt is in the notebook).
        digest: salted hash of the canonical answer (see ``digest``).
        decimals: numbers are compared after rounding to this many decimals.
        choices: the letters a choice question accepts.
        points: what a right answer is worth in the gradebook.
    """

    qid: str
    kind: str
    topic: str
    digest: str
    decimals: int = 2
    choices: tuple[str, ...] = ()
    points: float = 1.0

    @property
    def tolerance(self) -> float:
        """Accepted absolute error of a number: one unit in the last stated decimal."""
        return 10.0 ** -self.decimals

    def describe(self) -> str:
        """What kind of answer the question wants, in words."""
        if self.kind == "choice":
            return "one of " + ", ".join(f'"{c}"' for c in self.choices)
        unit = "an integer" if self.decimals == 0 else f"a number to {self.decimals} decimals"
        return unit


def canonical(q: Question, value: object) -> str | None:
    """The answer as the string that is hashed, or None when it is not an answer of the right kind.

    Numbers are rounded to ``q.decimals`` (``-0.00`` counts as ``0.00``); choices are
    stripped, lower-cased and freed of brackets and a trailing dot (``"(B)."`` -> ``"b"``).
    """
    if q.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        v = float(value)
        if not math.isfinite(v):
            return None
        text = f"{round(v, q.decimals):.{q.decimals}f}"
        return "0" if float(text) == 0 else text
    if q.kind == "choice":
        if not isinstance(value, str):
            return None
        c = value.strip().lower().strip("().").strip()
        return c if c in q.choices else None
    raise ValueError(f"question {q.qid}: unknown kind {q.kind!r} (expected 'number' or 'choice').")


def digest(lab: str, qid: str, canon: str) -> str:
    """Salted hash of a canonical answer (16 hex digits)."""
    return hashlib.sha256(f"{SALT}:{lab}:{qid}:{canon}".encode()).hexdigest()[:16]


def is_right(lab: str, q: Question, value: object) -> bool:
    """Whether ``value`` answers ``q``: equal hash, numbers within about one unit of the precision."""
    if q.kind == "number":
        if canonical(q, value) is None:
            return False
        v = float(value)  # type: ignore[arg-type]
        candidates = {canonical(q, v + k * q.tolerance) for k in (-1, 0, 1)}
    else:
        candidates = {canonical(q, value)}
    return any(c is not None and digest(lab, q.qid, c) == q.digest for c in candidates)


_ABC = ("a", "b", "c", "d")


def _n(qid: str, topic: str, dig: str, decimals: int = 2) -> Question:
    return Question(qid, "number", topic, dig, decimals=decimals)


def _c(qid: str, topic: str, dig: str) -> Question:
    return Question(qid, "choice", topic, dig, choices=_ABC)


#: lab number -> its questions, in order. Digests come from the solution notebooks'
#: answers (tests/unit/test_questions.py recomputes them from solutions/).
QUESTIONS: dict[str, tuple[Question, ...]] = {
    "01": (
        _n("q1", "receptive field of the encoder's two strided convolutions", "655b17da50257b54", 0),
        _n("q2", "parameters of the encoder's last linear layer", "3cc9a54b7632253e", 0),
        _n("q3", "output side of a strided transposed convolution", "a348e15dd4146f8e", 0),
        _c("q4", "why the decoder returns logits", "9323dbf121a825d5"),
        _n("q5", "fraction of black pixels that stay black after add_noise", "a0543da65dd7afc5", 2),
    ),
    "02": (
        _n("q1", "KL of a 2-D Gaussian from the prior", "e47748fc216142f0", 2),
        _n("q2", "one reparameterised sample", "93577783b8c75271", 2),
        _n("q3", "dz/dlogvar at that sample", "2a32aad5e4c93492", 2),
        _n("q4", "reconstruction term of an undecided decoder", "b8ec48ff78b55a5a", 1),
        _c("q5", "what the KL weight trades", "4c302003176ffdcf"),
    ),
    "03": (
        _n("q1", "D* where p_data = 3 p_g", "c7fa9c20ed2dcfa7", 2),
        _n("q2", "V(D*, G) at p_g = p_data", "e7e3ac37b6ecdd7e", 2),
        _n("q3", "gradient of the saturating loss at a rejected fake", "112eae6d41fc4d54", 4),
        _n("q4", "D's loss when it cannot tell", "b7ebd5a276c2d961", 2),
        _c("q5", "which generator loss learns early", "ba66b2ee503e1872"),
    ),
    "04": (
        _n("q1", "receptive field of the discriminator's logit", "5e238a8be2d8b26e", 0),
        _c("q2", "what a missing detach changes in the D step", "a0d3c9f5e5bc655e"),
        _n("q3", "weights of a transposed convolution", "f17b74005855d8ab", 0),
        _n("q4", "loss_g at the equilibrium", "4df98c970234a76c", 2),
    ),
    "05": (
        _n("q1", "legal corners of a block hole", "605ec00af3a12830", 0),
        _n("q2", "probability that the corner pixel is masked", "4f27f39ebc4e06ec", 4),
        _n("q3", "masked MSE of a small example", "1a7a4ddf8a23f1c1", 3),
        _n("q4", "entries counted by the masked MSE's denominator", "ef328187681436ea", 0),
        _c("q5", "error on the known pixels after composite", "8c258ee9ffad243d"),
    ),
    "06": (
        _n("q1", "number of row sequences", "1441bc55eb60531a", 0),
        _n("q2", "positions one output depends on after both sweeps", "36dcd69e59a66d21", 0),
        _n("q3", "features per step of a bidirectional GRU", "86d440f7da9f3f47", 0),
        _c("q4", "what a plain view does to a feature map", "f8edba5461b2f7b3"),
        _n("q5", "receptive field of the CRNN's encoder", "dd6c03051bfd558b", 0),
    ),
    "07": (
        _n("q1", "largest finite float16", "2c83766c1d43945b", 0),
        _c("q2", "which device needs a GradScaler", "0fedb993dbebccc2"),
        _n("q3", "mean loss per image over unequal batches", "e72d2a3433a2f41b", 2),
        _c("q4", "why write a temporary file and rename it", "cb5e6d15b4707eb4"),
        _c("q5", "what an unrestricted torch.load can do", "0ca088563d0ce872"),
    ),
    "09": (
        _n("q1", "batch size after the wrong reshape", "02ceb5aaa556e6fa", 0),
        _c("q2", "what the KL with the wrong sign does to mu", "9f261a6c1b5a327d"),
        _n("q3", "smallest loss with a sigmoid before BCE-with-logits", "89175be3285681a7", 2),
        _n("q4", "an EMA that aliases its model", "09342e3b2f2ba3b1", 2),
    ),
}

_current: dict[str, str] = {}


def lab_key(lab: str | int) -> str:
    """``"02_vae"``, ``"02"``, ``2`` -> ``"02"``; raises for a lab without questions."""
    digits = "".join(ch for ch in str(lab).split("_")[0] if ch.isdigit())
    key = f"{int(digits):02d}" if digits else str(lab)
    if key not in QUESTIONS:
        raise UnknownNameError(f"lab {lab!r} has no concept questions; labs with questions: {', '.join(QUESTIONS)}.")
    return key


def find(lab: str | int, qid: str) -> Question:
    """The question ``qid`` of ``lab``; raises KeyError naming the lab's questions."""
    key = lab_key(lab)
    for q in QUESTIONS[key]:
        if q.qid == qid:
            return q
    ids = ", ".join(q.qid for q in QUESTIONS[key])
    raise UnknownNameError(f"lab {key} has no question {qid!r}; its questions are {ids}.")


def check(lab: str | int, qid: str, value: object) -> str:
    """The one-line verdict on an answer: right, not yet, or not answered (never the answer)."""
    key = lab_key(lab)
    q = find(key, qid)
    if value is None or value is Ellipsis:
        return f"{qid}: not answered yet: replace ... with your answer ({q.describe()})."
    if canonical(q, value) is None:
        return (f"{qid}: not yet: this question wants {q.describe()}, "
                f"got {type(value).__name__} {value!r}.")
    if is_right(key, q, value):
        return f"{qid}: right."
    return f"{qid}: not yet. Think it through again (the lab's lecture has the background)."


def answer(qid: str, value: object, lab: str | int | None = None) -> bool:
    """Check an answer to a concept question and print whether it is right (never the answer).

    Args:
        qid: ``"q1"``, ``"q2"``...
        value: your answer: a number, or a letter for multiple choice.
        lab: the lab; by default the one last opened with ``genlab.questions(lab)``.

    Returns:
        True when the answer is right.
    """
    if lab is None:
        if "lab" not in _current:
            raise RuntimeError('which lab? Run answer = genlab.questions("NN") first (NN: the lab number), '
                               'or pass lab="NN".')
        lab = _current["lab"]
    key = lab_key(lab)
    print(check(key, qid, value))
    q = find(key, qid)
    return canonical(q, value) is not None and is_right(key, q, value)


@dataclass
class _Answer:
    """``answer`` bound to one lab (what ``genlab.questions`` returns)."""

    lab: str
    ids: list[str] = field(default_factory=list)

    def __call__(self, qid: str, value: object) -> bool:
        return answer(qid, value, lab=self.lab)

    def __repr__(self) -> str:
        return f'<answer for lab {self.lab}: answer("q1", value); questions {", ".join(self.ids)}>'


def questions(lab: str | int, quiet: bool = False) -> _Answer:
    """Open a lab's concept questions: list them and return ``answer`` bound to that lab."""
    key = lab_key(lab)
    _current["lab"] = key
    qs = QUESTIONS[key]
    if not quiet:
        print(f"Lab {key}: {len(qs)} concept questions (prompts above). Answer each with "
              'answer("qN", value); the check says right or not yet.')
        for q in qs:
            print(f"  {q.qid}: {q.topic} ({q.describe()})")
    return _Answer(key, [q.qid for q in qs])
