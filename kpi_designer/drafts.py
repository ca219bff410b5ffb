"""KPI and plan drafts: what the designer page edits before it becomes a file.

The designer writes the same files the command line reads, so a draft is checked exactly as
``kpiboard kpi check`` will check it once saved: together with every other KPI file of the
project (references resolve, an id used twice is caught), compiled, and with the plans and
scorecards that name its KPIs.

Where a draft goes:

- a **new KPI** is a file of its own, ``kpis/<id>.yaml`` (one KPI per file: nothing else in
  the folder changes);
- an **existing KPI in a file with other KPIs** is edited as a one-KPI document
  (``kpis:`` and its block) and, on save, only its block of the file is replaced, as text: the
  other KPIs, comments and blank lines of the file stay byte for byte (:func:`splice`);
- an existing file with one KPI, or one that is not valid YAML, is edited whole.

Everything here is pure but for :func:`save_kpi` and :func:`save_plan`, which write atomically
(a temporary file in the same folder, then :func:`os.replace`) and refuse to overwrite a file
that changed since it was opened (its content hash against the one taken then).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from kpi_designer import model as m
from kpi_designer.errors import DefinitionError
from kpi_designer.loader import ID_LINE, SUFFIXES, TYPE_KEYS, KpiFiles, read_kpis
from kpiboard.errors import Problem, UserError

FORM_TYPES = ("simple", "ratio")
"""The KPI types the form edits; the others are edited in the YAML view."""
FORM_KEYS = (
    "id",
    "label",
    "description",
    "unit",
    "direction",
    "owner",
    "type",
    "thresholds",
    "fact",
    "agg",
    "expr",
    "filter",
    "numerator",
    "denominator",
)
"""The keys the form sets, in the order a new KPI writes them."""
KPIS_LINE = re.compile(r"^kpis:\s*(#.*)?$")
_lock = threading.Lock()  # one save at a time per process: check and write are one step


class DraftError(UserError):
    """A draft that is not saved: a bad file name, a file changed since it was opened, or
    problems (each located, in :attr:`problems`)."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        self.problems = tuple(problems)
        super().__init__(message)


# -- files ---------------------------------------------------------------------------------


def fingerprint(content: str | bytes | None) -> str | None:
    """The content hash a file is opened with; ``None`` for a file that does not exist."""
    if content is None:
        return None
    data = content.encode("utf-8") if isinstance(content, str) else content
    return hashlib.sha256(data).hexdigest()


def file_fingerprint(path: Path) -> str | None:
    try:
        return fingerprint(path.read_bytes())
    except FileNotFoundError:
        return None


def checked_name(file_name: str, suffixes: Sequence[str]) -> str:
    """``file_name`` if it names a file directly in the folder with one of ``suffixes``;
    :class:`DraftError` for a path (``../x.yaml``, ``a/b.yaml``), a hidden file or another
    kind of file."""
    name = file_name.strip()
    if (
        not name
        or "/" in name
        or "\\" in name
        or ".." in name
        or name.startswith(".")
        or os.sep in name
        or "\0" in name
    ):
        raise DraftError(f"{file_name!r} is not a file name: no folders, no '..'")
    if Path(name).suffix not in suffixes:
        raise DraftError(f"{file_name!r}: the file name must end with {' or '.join(suffixes)}")
    return name


def write_atomically(path: Path, text: str) -> None:
    """``text`` into ``path``: a temporary file in the same folder, flushed, then renamed over
    it, so a reader sees the old file or the new one, never half of one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _unchanged(path: Path, expected: str | None) -> None:
    now = file_fingerprint(path)
    if now == expected:
        return
    if expected is None:
        raise DraftError(f"{path.name} already exists: open it to edit it, or choose another id")
    if now is None:
        raise DraftError(f"{path.name} was deleted since it was opened: nothing was written")
    raise DraftError(
        f"{path.name} was changed since it was opened (by hand or in another window): nothing "
        "was written; open it again to see the changes"
    )


# -- a KPI's block in a file -----------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    """A KPI opened for editing: the draft shown, the file it is saved to, the KPI whose block
    it replaces there (``None``: the draft is the whole file) and the file's hash then."""

    file_name: str
    text: str
    replacing: str | None
    fingerprint: str | None


@dataclass(frozen=True)
class Spliced:
    """A file's text with a draft's block in place of a KPI's; a line ``n`` of the draft is
    line ``n + offset`` of the file, for the draft's lines ``first`` to ``last``."""

    text: str
    offset: int
    first: int
    last: int

    def view_line(self, line: int | None) -> int | None:
        """The draft's line of the file's ``line``; ``None`` outside the draft's block."""
        if line is None or not self.first + self.offset <= line <= self.last + self.offset:
            return None
        return line - self.offset


def _item_blocks(text: str) -> dict[str, tuple[int, int]] | None:
    """Each KPI of a file: its id → the first and last line (0-based) of its block, without
    the blank and comment lines after it; ``None`` when the file is not a readable KPI file."""
    try:
        root = YAML(typ="safe", pure=True).compose(text)
    except YAMLError:
        return None
    if not isinstance(root, MappingNode):
        return None
    seq = next((v for k, v in root.value if isinstance(k, ScalarNode) and k.value == "kpis"), None)
    if not isinstance(seq, SequenceNode):
        return None
    lines = text.splitlines()
    starts = [int(item.start_mark.line) for item in seq.value]
    out: dict[str, tuple[int, int]] = {}
    for number, item in enumerate(seq.value):
        if not isinstance(item, MappingNode):
            continue
        kpi_id = next(
            (
                v.value
                for k, v in item.value
                if isinstance(k, ScalarNode) and k.value == "id" and isinstance(v, ScalarNode)
            ),
            None,
        )
        end = starts[number + 1] - 1 if number + 1 < len(starts) else len(lines) - 1
        while end > starts[number] and (not lines[end].strip() or _comment(lines[end])):
            end -= 1
        if isinstance(kpi_id, str):
            out.setdefault(kpi_id, (starts[number], end))
    return out


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _shift(lines: Sequence[str], by: int) -> list[str]:
    if by >= 0:
        return [(" " * by + x) if x.strip() else x for x in lines]
    return [x[min(-by, _indent(x)) :] for x in lines]


def splice(original: str, draft: str, replacing: str) -> Spliced | None:
    """``original`` (a KPI file) with the block of KPI ``replacing`` replaced by the KPI of
    ``draft`` (a one-KPI document, ``kpis:`` then its item), its lines moved to the file's
    indentation; the rest of the file stays as it is, byte for byte. ``None`` when the file has
    no such KPI, or the draft has no ``kpis:`` line."""
    blocks = _item_blocks(original)
    if blocks is None or replacing not in blocks:
        return None
    first, last = blocks[replacing]
    lines = original.splitlines()
    file_dash = _indent(lines[first])
    draft_lines = draft.splitlines()
    head = next((n for n, x in enumerate(draft_lines) if KPIS_LINE.match(x)), None)
    if head is None:
        return None
    body = draft_lines[head + 1 :]
    while body and not body[-1].strip():
        body.pop()
    start = next((n for n, x in enumerate(body) if x.strip() and not _comment(x)), None)
    if start is None:
        return None
    body = _shift(body, file_dash - _indent(body[start]))
    new = [*lines[:first], *body, *lines[last + 1 :]]
    ending = "\n" if original.endswith("\n") or not original else ""
    # the draft's line head + 2 is the file's line first + 1 (both 1-based)
    offset = first - head - 1
    return Spliced("\n".join(new) + ending, offset, head + 2, head + 1 + len(body))


def locate_kpi(folder: Path, kpi_id: str) -> Path | None:
    """The KPI file under ``folder`` that defines ``kpi_id`` (an ``id:`` line naming it)."""
    for path in sorted(p for p in folder.rglob("*") if p.suffix in SUFFIXES and p.is_file()):
        text = path.read_text(encoding="utf-8", errors="replace")
        if any(match.group(1) == kpi_id for match in ID_LINE.finditer(text)):
            return path
    return None


def open_kpi(folder: Path, kpi_id: str) -> Opened | None:
    """KPI ``kpi_id`` for editing: its block as a one-KPI document when its file holds other
    KPIs, else the whole file; ``None`` when no file defines it."""
    path = locate_kpi(folder, kpi_id)
    if path is None:
        return None
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    name = path.relative_to(folder).as_posix()
    blocks = _item_blocks(text)
    if blocks is None or kpi_id not in blocks or len(blocks) == 1:
        return Opened(name, text, None, fingerprint(raw))
    first, last = blocks[kpi_id]
    body = text.splitlines()[first : last + 1]
    body = _shift(body, 2 - _indent(body[0]))
    return Opened(name, "kpis:\n" + "\n".join(body) + "\n", kpi_id, fingerprint(raw))


def new_kpi_text(kpi_id: str = "new_kpi") -> str:
    """The draft of a new KPI: a simple sum to start from."""
    return form_to_yaml(
        {
            "id": kpi_id,
            "label": kpi_id.replace("_", " ").capitalize(),
            "description": "What counts, and what does not.",
            "unit": "money",
            "direction": "higher",
            "type": "simple",
            "fact": "invoice",
            "agg": "sum",
            "expr": "net_amount",
            "filter": "status NOT IN ('draft', 'cancelled')",
        }
    )


# -- checking -------------------------------------------------------------------------------


def draft_file_text(
    yaml_text: str, file_name: str, folder: Path, replacing: str | None
) -> tuple[str, Spliced | None]:
    """The text ``file_name`` would have with the draft saved, and how the draft sits in it
    (``None`` when the draft is the whole file)."""
    if replacing is None:
        return yaml_text, None
    path = folder / file_name
    original = path.read_text(encoding="utf-8") if path.is_file() else ""
    spliced = splice(original, yaml_text, replacing)
    if spliced is None:
        return yaml_text, None
    return spliced.text, spliced


def draft_kpis(yaml_text: str, file_name: str, folder: Path, replacing: str | None) -> KpiFiles:
    """The project's KPIs with the draft saved (not written): what the preview evaluates."""
    full, _ = draft_file_text(yaml_text, file_name, folder, replacing)
    return read_kpis(folder, {file_name: full})


def validate_draft(
    yaml_text: str,
    file_name: str,
    definitions_folder: Path,
    *,
    replacing: str | None = None,
    plans_folder: Path | None = None,
    scorecards_folder: Path | None = None,
    existing: Collection[str] = (),
) -> list[Problem]:
    """The problems the draft would bring, located in ``file_name`` as it would be written
    (``kpis/x.yaml:9: kpi 'x': expr is not valid SQL: …``): the draft read with the project's
    other KPI files (a reference to another KPI resolves, an id used twice is caught), its KPIs
    compiled for every dialect, and the plans and scorecards read with the KPIs it makes.

    ``replacing`` names the KPI whose block of ``file_name`` the draft (a one-KPI document)
    replaces; without it the draft is the file's whole text. Every problem of the file the
    draft writes is returned; a problem elsewhere only when it is not in ``existing`` (the
    project's problems before the draft, as text): the draft did not cause it."""
    try:
        name = checked_name(file_name, SUFFIXES)
    except DraftError as exc:
        return [Problem(file_name, None, str(exc))]
    shown = f"{definitions_folder.name}/{name}"
    full, spliced = draft_file_text(yaml_text, name, definitions_folder, replacing)
    if replacing is not None and spliced is None:
        return [Problem(shown, 1, f"the YAML view must hold KPI {replacing!r} under kpis:")]
    try:
        files = read_kpis(definitions_folder, {name: full})
    except DefinitionError as exc:
        return list(exc.problems)
    problems = list(files.problems)
    mine = [k.id for k in files.kpis.values() if k.location.path == shown]
    if not any(p.path == shown for p in problems):
        try:
            from kpi_designer.engine import compile_all

            compile_all(files.kpis, only=mine)
        except DefinitionError as exc:
            problems += exc.problems
    if plans_folder is not None:
        from kpi_designer.plans import load_plans

        try:
            load_plans(plans_folder, files.kpis, files.left_out)
        except DefinitionError as exc:
            problems += exc.problems
    if scorecards_folder is not None:
        from kpi_designer.scorecards import load_scorecards

        try:
            load_scorecards(scorecards_folder, files.kpis)
        except DefinitionError as exc:
            problems += exc.problems
    return [p for p in problems if p.path == shown or str(p) not in existing]


def save_kpi(
    folder: Path,
    file_name: str,
    text: str,
    expected_fingerprint: str | None,
    *,
    replacing: str | None = None,
    plans_folder: Path | None = None,
    scorecards_folder: Path | None = None,
    existing: Collection[str] = (),
) -> Path:
    """Save a draft to ``folder/file_name`` (the whole file, or KPI ``replacing``'s block of
    it: see :func:`splice`) and return the file's path.

    Refused with :class:`DraftError`, writing nothing: a name that is not a plain
    ``.yaml``/``.yml`` file name; a file whose content is no longer what it was when opened
    (``expected_fingerprint``; ``None``: a new file, which must not exist yet); a draft with
    problems (:func:`validate_draft`, listed in the error)."""
    name = checked_name(file_name, SUFFIXES)
    path = folder / name
    with _lock:
        _unchanged(path, expected_fingerprint)
        problems = validate_draft(
            text,
            name,
            folder,
            replacing=replacing,
            plans_folder=plans_folder,
            scorecards_folder=scorecards_folder,
            existing=existing,
        )
        if problems:
            raise DraftError(f"{name} not saved: the draft has problems", problems)
        full, _ = draft_file_text(text, name, folder, replacing)
        write_atomically(path, full)
    return path


# -- the form -------------------------------------------------------------------------------


def _yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 100
    yaml.preserve_quotes = True
    return yaml


def _item(text: str | None) -> tuple[Any, CommentedMap] | None:
    """The round-trip document of a one-KPI draft and its KPI mapping."""
    if not text or not text.strip():
        return None
    try:
        doc = _yaml().load(text)
    except YAMLError:
        return None
    if not isinstance(doc, CommentedMap):
        return None
    items = doc.get("kpis")
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], CommentedMap):
        return None
    return doc, items[0]


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _side(value: object) -> tuple[str, str]:
    """A ratio's numerator or denominator as ``(kpi, filter)``."""
    if isinstance(value, Mapping):
        return _text(value.get("kpi")), _filters_text(value.get("filter"))
    return _text(value), ""


def _filters_text(value: object) -> str:
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value)
    return _text(value)


def yaml_to_form(text: str) -> dict[str, Any] | None:
    """The form's fields of a one-KPI draft (text and numbers as the inputs hold them;
    ``filter`` one condition per line, ``editable`` whether the form can edit its type);
    ``None`` when the text is not YAML holding one KPI."""
    found = _item(text)
    if found is None:
        return None
    item = found[1]
    thresholds = item.get("thresholds")
    thresholds = thresholds if isinstance(thresholds, Mapping) else {}
    numerator, numerator_filter = _side(item.get("numerator"))
    denominator, denominator_filter = _side(item.get("denominator"))
    kind = _text(item.get("type"))
    return {
        "id": _text(item.get("id")),
        "label": _text(item.get("label")),
        "description": _text(item.get("description")),
        "unit": _text(item.get("unit")),
        "direction": _text(item.get("direction")) or "higher",
        "owner": _text(item.get("owner")),
        "type": kind,
        "fact": _text(item.get("fact")),
        "agg": _text(item.get("agg")),
        "expr": _text(item.get("expr")),
        "filter": _filters_text(item.get("filter")),
        "numerator": numerator,
        "numerator_filter": numerator_filter,
        "denominator": denominator,
        "denominator_filter": denominator_filter,
        "green": _number(thresholds.get("green")),
        "amber": _number(thresholds.get("amber")),
        "editable": kind in FORM_TYPES,
    }


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(str(value))
    except ValueError:
        return None


def _form_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The YAML value of each form key (``None``: the key is left out)."""
    values: dict[str, Any] = {}
    for key in ("id", "label", "description", "unit", "owner", "type", "fact", "agg", "expr"):
        values[key] = _text(fields.get(key)) or None
    direction = _text(fields.get("direction"))
    values["direction"] = direction or None
    conditions = [c.strip() for c in _text(fields.get("filter")).splitlines() if c.strip()]
    values["filter"] = (
        None if not conditions else conditions[0] if len(conditions) == 1 else conditions
    )
    for side in ("numerator", "denominator"):
        kpi = _text(fields.get(side))
        condition = _text(fields.get(f"{side}_filter"))
        if kpi and condition:
            flow = CommentedMap([("kpi", kpi), ("filter", condition)])
            flow.fa.set_flow_style()
            values[side] = flow
        else:
            values[side] = kpi or None
    green, amber = _number(fields.get("green")), _number(fields.get("amber"))
    if green is None and amber is None:
        values["thresholds"] = None
    else:
        limits = CommentedMap()
        if green is not None:
            limits["green"] = green
        if amber is not None:
            limits["amber"] = amber
        limits.fa.set_flow_style()
        values["thresholds"] = limits
    return values


def _same(old: object, new: object) -> bool:
    if isinstance(new, Mapping) and isinstance(old, Mapping):
        return {k: _text(v) for k, v in old.items()} == {k: _text(v) for k, v in new.items()}
    if isinstance(new, list) and isinstance(old, list):
        return [_text(v) for v in old] == [_text(v) for v in new]
    return _text(old) == _text(new) and isinstance(new, list) == isinstance(old, list)


def form_to_yaml(fields: Mapping[str, Any], text: str | None = None) -> str:
    """The one-KPI YAML of the form's ``fields``. Given the draft's current ``text`` (when it
    holds one KPI) only what the form changed is written into it: keys the form does not know
    (``time``, ``missing_plan`` …), comments and the layout of values it did not change stay.
    A key whose field is emptied is removed; the keys of the other form type go when the type
    changes (a ratio has no ``fact``)."""
    found = _item(text)
    if found is None:
        item = CommentedMap()
        doc = CommentedMap([("kpis", CommentedSeq([item]))])
    else:
        doc, item = found
    values = _form_values(fields)
    kind = values.get("type")
    if kind in FORM_TYPES:
        for other in FORM_TYPES:
            if other != kind:
                for key in TYPE_KEYS[other]:
                    if key not in TYPE_KEYS[kind] and key in item:
                        del item[key]
    for key in FORM_KEYS:
        new = values.get(key)
        if key in TYPE_KEYS["simple"] and kind == "ratio":
            continue
        if key in TYPE_KEYS["ratio"] and kind == "simple":
            continue
        if key == "direction" and new == "higher" and key not in item:
            continue  # the default: a draft that does not say it keeps not saying it
        if new is None:
            if key in item:
                del item[key]
            continue
        if key in item:
            if not _same(item[key], new):
                item[key] = new
            continue
        before = [k for k in FORM_KEYS[: FORM_KEYS.index(key)] if k in item]
        position = list(item).index(before[-1]) + 1 if before else 0
        item.insert(position, key, new)
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


# -- plans ----------------------------------------------------------------------------------


def read_plan(folder: Path, file_name: str) -> tuple[list[list[str]], str | None]:
    """A plan file's rows (the header first) and its hash, to save it back with."""
    name = checked_name(file_name, (".csv",))
    raw = (folder / name).read_bytes()
    text = raw.decode("utf-8")
    return [list(r) for r in csv.reader(io.StringIO(text, newline=""))], fingerprint(raw)


def plan_text(rows: Sequence[Sequence[object]]) -> str:
    """CSV text of ``rows`` as the plan files are written (``\\n`` line ends, quotes only
    where needed); rows with every cell empty are left out."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        cells = ["" if c is None else str(c).strip() for c in row]
        if any(cells):
            writer.writerow(cells)
    return out.getvalue()


def plan_problems(
    rows: Sequence[Sequence[object]],
    shown: str,
    kpis: Mapping[str, m.Kpi],
    left_out: Collection[str] = (),
) -> list[Problem]:
    """The problems of a plan file's rows as :func:`kpi_designer.plans.load_plans` finds
    them, each at the line the row will have in the file."""
    from kpi_designer.plans import _duplicates, parse_plans

    text = plan_text(rows)
    parsed = [list(r) for r in csv.reader(io.StringIO(text, newline=""))]
    plans, problems = parse_plans(parsed, shown, kpis, None, left_out)
    return sorted([*problems, *_duplicates(plans)], key=lambda p: p.line or 0)


def save_plan(
    folder: Path,
    file_name: str,
    rows: Sequence[Sequence[object]],
    expected_fingerprint: str | None,
    kpis: Mapping[str, m.Kpi],
    left_out: Collection[str] = (),
) -> Path:
    """Save ``rows`` (the header first) to the plan file ``folder/file_name`` atomically.
    Refused with :class:`DraftError`, writing nothing, for a name that is not a plain ``.csv``
    file name, a file changed since it was opened, or any problem in the rows (located at
    the line each row will have)."""
    name = checked_name(file_name, (".csv",))
    path = folder / name
    with _lock:
        _unchanged(path, expected_fingerprint)
        problems = plan_problems(rows, f"{folder.name}/{name}", kpis, left_out)
        if problems:
            raise DraftError(f"{name} not saved: the plan has problems", problems)
        write_atomically(path, plan_text(rows))
    return path
