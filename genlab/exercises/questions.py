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


#: The letters a multiple-choice question accepts.
_ABC = ("a", "b", "c", "d")

#: One question a line: lab, id, answer kind (the decimals of a number, or ``abcd`` for a
#: choice), digest, topic. Digests come from the solution notebooks' answers
#: (tests/unit/test_questions.py recomputes them from solutions/).
_TABLE = """
01 q1 0    655b17da50257b54 receptive field of the encoder's two strided convolutions
01 q2 0    3cc9a54b7632253e parameters of the encoder's last linear layer
01 q3 0    a348e15dd4146f8e output side of a strided transposed convolution
01 q4 abcd 9323dbf121a825d5 why the decoder returns logits
01 q5 2    a0543da65dd7afc5 fraction of black pixels that stay black after add_noise
02 q1 2    e47748fc216142f0 KL of a 2-D Gaussian from the prior
02 q2 2    93577783b8c75271 one reparameterised sample
02 q3 2    2a32aad5e4c93492 dz/dlogvar at that sample
02 q4 1    b8ec48ff78b55a5a reconstruction term of an undecided decoder
02 q5 abcd 4c302003176ffdcf what the KL weight trades
03 q1 2    c7fa9c20ed2dcfa7 D* where p_data = 3 p_g
03 q2 2    e7e3ac37b6ecdd7e V(D*, G) at p_g = p_data
03 q3 4    112eae6d41fc4d54 gradient of the saturating loss at a rejected fake
03 q4 2    b7ebd5a276c2d961 D's loss when it cannot tell
03 q5 abcd ba66b2ee503e1872 which generator loss learns early
04 q1 0    5e238a8be2d8b26e receptive field of the discriminator's logit
04 q2 abcd a0d3c9f5e5bc655e what a missing detach changes in the D step
04 q3 0    f17b74005855d8ab weights of a transposed convolution
04 q4 2    4df98c970234a76c loss_g at the equilibrium
05 q1 0    605ec00af3a12830 legal corners of a block hole
05 q2 4    4f27f39ebc4e06ec probability that the corner pixel is masked
05 q3 3    1a7a4ddf8a23f1c1 masked MSE of a small example
05 q4 0    ef328187681436ea entries counted by the masked MSE's denominator
05 q5 abcd 8c258ee9ffad243d error on the known pixels after composite
06 q1 0    1441bc55eb60531a number of row sequences
06 q2 0    36dcd69e59a66d21 positions one output depends on after both sweeps
06 q3 0    86d440f7da9f3f47 features per step of a bidirectional GRU
06 q4 abcd f8edba5461b2f7b3 what a plain view does to a feature map
06 q5 0    dd6c03051bfd558b receptive field of the CRNN's encoder
07 q1 0    2c83766c1d43945b largest finite float16
07 q2 abcd 0fedb993dbebccc2 which device needs a GradScaler
07 q3 2    e72d2a3433a2f41b mean loss per image over unequal batches
07 q4 abcd cb5e6d15b4707eb4 why write a temporary file and rename it
07 q5 abcd 0ca088563d0ce872 what an unrestricted torch.load can do
09 q1 0    02ceb5aaa556e6fa batch size after the wrong reshape
09 q2 abcd 9f261a6c1b5a327d what the KL with the wrong sign does to mu
09 q3 2    89175be3285681a7 smallest loss with a sigmoid before BCE-with-logits
09 q4 2    09342e3b2f2ba3b1 an EMA that aliases its model
"""


def _parse(table: str) -> dict[str, tuple[Question, ...]]:
    """lab number -> its questions, in the table's order."""
    labs: dict[str, list[Question]] = {}
    for row in table.strip().splitlines():
        lab, qid, kind, dig, topic = row.split(maxsplit=4)
        if kind == "".join(_ABC):
            q = Question(qid, "choice", topic, dig, choices=_ABC)
        else:
            q = Question(qid, "number", topic, dig, decimals=int(kind))
        labs.setdefault(lab, []).append(q)
    return {lab: tuple(qs) for lab, qs in labs.items()}


#: lab number -> its questions, in order.
QUESTIONS: dict[str, tuple[Question, ...]] = _parse(_TABLE)

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
