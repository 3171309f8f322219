"""CSV import and export of members.

Import: the upload is decoded (UTF-8 with or without BOM, UTF-16, else GB18030, which covers the
GBK that Excel saves in China), its columns mapped to member fields, and the rows applied in
batches of ``BATCH_SIZE``: a number already in the database is updated with the given cells, a
number repeated within the file is a bad line naming the line that has it first, a bad row is recorded with its line number and reason, and every data line is
counted exactly once as imported, updated or failed.

Export: the filtered member list written out in keyset batches, never all rows at once.
"""
import csv
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from itertools import islice
from types import SimpleNamespace

import sqlalchemy as sa

from mcrm.core.csv_out import ENCODINGS, FORMULA_START, csv_chunks, safe_cell
from mcrm.core.errors import ValidationError
from mcrm.core.msisdn import is_valid_msisdn, normalize_mobile
from mcrm.core.text import CONTROL_CHARS, N_
from mcrm.extensions import db
from mcrm.members.birthdays import parse_birthday
from mcrm.members.models import (ConsentEvent, Gender, ImportStatus, Member, MemberImport, MemberImportError, MemberTag,
                                 Source)
from mcrm.members.name_keys import name_sort_key
from mcrm.members.queries import MemberFilter, custom_field_names, iter_members
from mcrm.members.services import (MAX_TAGS, Consent, Welcome, emit_joined, log_consents, member_birthday, opt_out,
                                   parse_tags, prepare_member, record_consent, set_birthday, set_member_fields,
                                   take_opt_outs, welcome_members)
from mcrm.merchants.models import Merchant
from mcrm.points import rules
from mcrm.points.services import Actor, import_balances

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
#: member fields a column can fill; "custom" keeps the column as a custom field named after its header
FIELDS = ("msisdn", "name", "gender", "birthday", "tags", "points", "opted_out", "custom", "ignore")
#: a column is "ignore" unless its header reads as one of these (compared casefolded, without spaces)
_HEADER_ALIASES = {
    "msisdn": ("手机", "手机号", "手机号码", "电话", "电话号码", "联系电话", "联系方式", "mobile", "mobilenumber",
               "mobilephone", "phone", "phonenumber", "msisdn", "tel", "cell", "cellphone"),
    "name": ("姓名", "名字", "会员姓名", "客户姓名", "顾客姓名", "会员名", "name", "fullname", "membername"),
    "gender": ("性别", "gender", "sex"),
    "birthday": ("生日", "出生日期", "出生年月日", "birthday", "birthdate", "dateofbirth", "dob"),
    "tags": ("标签", "会员标签", "分组", "tags", "tag", "labels"),
    "points": ("积分", "积分余额", "可用积分", "当前积分", "points", "pointsbalance", "balance"),
    "opted_out": ("退订", "已退订", "optedout", "optout", "unsubscribed"),
}
_GENDERS = {"男": Gender.MALE, "m": Gender.MALE, "male": Gender.MALE, "先生": Gender.MALE,
            "女": Gender.FEMALE, "f": Gender.FEMALE, "female": Gender.FEMALE, "女士": Gender.FEMALE,
            "未知": Gender.UNKNOWN, "u": Gender.UNKNOWN, "unknown": Gender.UNKNOWN, "保密": Gender.UNKNOWN,
            "未填写": Gender.UNKNOWN, "not given": Gender.UNKNOWN}
_YES = {"是", "yes", "y", "1", "true", "已退订", "退订"}
_NO = {"否", "no", "n", "0", "false", "未退订", ""}


# -- reading the upload -------------------------------------------------------------------------

def detect_encoding(data: bytes) -> str:
    """The encoding of an uploaded CSV: BOMs first, then strict UTF-8, then GB18030 (a superset of GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        raise ValidationError(
            "The file is neither UTF-8 nor GBK/GB18030 text; save it as CSV and try again") from None


def detect_delimiter(text: str) -> str:
    """Comma, unless the header line holds more tabs (Excel's "Unicode text") or semicolons."""
    header = text.split("\n", 1)[0]
    return max((",", "\t", ";"), key=lambda sep: (header.count(sep), sep == ","))


def read_rows(text: str, delimiter: str, *, header: bool = True):
    """(line number, cells) for every row after the header (every row of a file without one); a
    quoted cell may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    if header:
        next(reader, None)
    line = reader.line_num + 1
    for cells in reader:
        yield line, cells
        line = reader.line_num + 1


@dataclass(frozen=True)
class Upload:
    encoding: str
    delimiter: str
    headers: list[str]
    total_lines: int
    #: the first line of data (the mapping guesses a headerless file's number column from it)
    first_row: list[str]


def inspect_upload(data: bytes, *, header: bool = True) -> Upload:
    """Encoding, delimiter, headers and number of data lines of an uploaded file.

    ``header``: whether the first line holds the column names; a file without them (``False``)
    gets the columns' numbers as headers (#1, #2, ...). A first line that holds a phone number is
    data, not names: refused with a clear reason rather than imported one member short.
    """
    if not data.strip():
        raise ValidationError("The file is empty")
    encoding = detect_encoding(data)
    text = data.decode(encoding)
    delimiter = detect_delimiter(text)
    try:
        first = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        rows = read_rows(text, delimiter, header=header)
        first_row = next(rows, (0, []))[1]
        total = (1 if first_row else 0) + sum(1 for _ in rows)
    except csv.Error as error:
        raise ValidationError("The file is not readable as CSV: %(error)s", error=str(error)) from None
    if not header:
        return Upload(encoding, delimiter, [f"#{i}" for i in range(1, len(first) + 1)], total, first_row)
    if not any(h.strip() for h in first):
        raise ValidationError("The first line must hold the column names")
    if (number := _phone_cell(first)) is not None:
        raise ValidationError("The first line looks like a member (%(cell)s), not column names: tick "
                              "'The first line is a member' or add a line of column names", cell=number)
    if total == 0:
        raise ValidationError("The file has a header line but no members")
    return Upload(encoding, delimiter, [h.strip() for h in first], total, first_row)


def _phone_cell(cells: list[str]) -> str | None:
    """The first cell that is a phone number (no column name is one)."""
    for cell in cells:
        if sum(ch.isdigit() for ch in cell) >= 7 and is_valid_msisdn(cell.strip()):
            return cell.strip()
    return None


def _header_key(header: str) -> str:
    text = re.sub(r"[(（\[【].*?[)）\]】]", "", header)  # "手机号(必填)" reads as "手机号"
    return re.sub(r"[\s_*:：\-]", "", text).casefold()


#: an export's custom field column: "自定义：车牌" or "Custom: 车牌" (the console's two languages)
_CUSTOM_HEADER = re.compile(r"\s*(?:自定义|custom)\s*[:：]\s*(.+)", re.IGNORECASE)


def custom_field_name(header: str) -> str:
    """The custom field a column fills: its header, without an export's custom marker."""
    marked = _CUSTOM_HEADER.fullmatch(header)
    return marked.group(1).strip() if marked else header


def guess_mapping(headers: list[str], first_row: list[str] | None = None) -> dict[str, str]:
    """Column index (as a string) → field, from Chinese or English headers; each field used once.

    An export's custom field columns map back to custom fields. Without a header that names the
    number, the column whose first cell is a phone number holds it (a file without column names).
    """
    mapping, taken = {}, set()
    for index, header in enumerate(headers):
        if _CUSTOM_HEADER.fullmatch(header):
            mapping[str(index)] = "custom"
    for exact in (True, False):
        for index, header in enumerate(headers):
            key = _header_key(header)
            if str(index) in mapping or not key:
                continue
            for name, aliases in _HEADER_ALIASES.items():
                hit = key in aliases if exact else any(a in key for a in aliases if not a.isascii())
                if hit and name not in taken:
                    mapping[str(index)] = name
                    taken.add(name)
                    break
    if "msisdn" not in taken and first_row:
        number = _phone_cell(first_row)
        if number is not None:
            mapping[str([cell.strip() for cell in first_row].index(number))] = "msisdn"
    return {str(i): mapping.get(str(i), "ignore") for i in range(len(headers))}


def check_mapping(mapping: dict[str, str], headers: list[str]) -> None:
    if "msisdn" not in mapping.values():
        raise ValidationError("Choose the column that holds the mobile number")
    chosen = [f for f in mapping.values() if f not in ("custom", "ignore")]
    if len(chosen) != len(set(chosen)):
        raise ValidationError("Each member field can come from one column only")
    if set(mapping) - {str(i) for i in range(len(headers))} or set(mapping.values()) - set(FIELDS):
        raise ValidationError("The column mapping does not fit the file")


# -- one row --------------------------------------------------------------------------------------

@dataclass
class ImportRow:
    line: int
    msisdn: str
    cells: list[str]
    fields: dict = field(default_factory=dict)
    points: int | None = None
    opted_out: bool = False


def parse_row(line: int, cells: list[str], mapping: dict[str, str], headers: list[str],
              region: str) -> ImportRow:
    """The member fields a row gives, every value checked; raises ValidationError with the reason."""
    if not any(c.strip() for c in cells):
        raise ValidationError("Blank line")
    for cell in cells:
        if control := CONTROL_CHARS.search(cell):  # a damaged file; PostgreSQL cannot even store a NUL
            raise ValidationError(
                "The line holds a control character (U+%(code)s); remove it and import the line again",
                code=f"{ord(control.group()):04X}")
    values, custom = {}, {}
    for index, name in mapping.items():
        position = int(index)
        value = _unguarded(cells[position].strip()) if position < len(cells) else ""
        if name == "custom":
            if value:
                custom[custom_field_name(headers[position])] = value
        elif name != "ignore":
            values[name] = value
    msisdn = normalize_mobile(values.pop("msisdn", ""), region)
    row = ImportRow(line=line, msisdn=msisdn, cells=cells)
    if values.get("name"):
        if len(values["name"]) > 64:
            raise ValidationError("Name is longer than 64 characters")
        row.fields["name"] = values["name"]
    if values.get("gender"):
        gender = _GENDERS.get(values["gender"].casefold())
        if gender is None:
            raise ValidationError("Gender must be 男 or 女 (M or F), not %(value)r", value=values["gender"])
        row.fields["gender"] = gender
    if values.get("birthday"):
        row.fields["birthday"] = parse_birthday(values["birthday"])
    if values.get("tags"):
        tags = parse_tags(values["tags"])
        if len(tags) > MAX_TAGS or any(len(t) > 32 for t in tags):
            raise ValidationError("At most %(count)s tags of up to 32 characters", count=MAX_TAGS)
        row.fields["tags"] = tags
    if custom:
        row.fields["custom_fields"] = custom
    if values.get("points"):
        row.points = _parse_points(values["points"])
    if "opted_out" in values:
        flag = values["opted_out"].casefold()
        if flag not in _YES | _NO:
            raise ValidationError("Opted out must be 是 or 否 (yes or no), not %(value)r", value=values["opted_out"])
        row.opted_out = flag in _YES
    return row


def _unguarded(cell: str) -> str:
    """A cell as typed: an export guards text that Excel would run (``'=1+1``, see
    ``csv_out.safe_cell``); its apostrophe goes, so an export imports back unchanged."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell


def _parse_points(text: str) -> int:
    try:
        number = Decimal(text.replace(",", "").replace("，", ""))
    except InvalidOperation:
        raise ValidationError("Points must be a whole number, not %(text)r", text=text) from None
    if not number.is_finite() or number != number.to_integral_value() or number < 0 or number > 100_000_000:
        raise ValidationError("Points must be a whole number of at least 0, not %(text)r", text=text)
    return int(number)


# -- applying a batch -----------------------------------------------------------------------------

@dataclass
class BatchResult:
    imported: int = 0
    updated: int = 0
    #: (line, reason, cells)
    failures: list[tuple[int, str, list[str]]] = field(default_factory=list)
    #: members the batch enrolled (new or back from deletion), to welcome
    new_ids: list[int] = field(default_factory=list)


def import_batch(merchant: Merchant, rows: list[tuple[int, list[str]]], *, mapping: dict[str, str],
                 headers: list[str], region: str, actor: Actor, now: datetime, source_label: str,
                 seen: dict[str, int]) -> BatchResult:
    """Apply a batch of (line, cells): new numbers are enrolled, known ones updated.

    ``seen``: number → the line of this file that had it first (kept across the file's batches;
    a repeat is a bad line). New members, most of a
    typical file, go in as one multi-row INSERT: building a thousand ORM objects would take longer
    than the whole batch may. Flushes, never commits.
    """
    result = BatchResult()
    parsed: list[ImportRow] = []
    for line, cells in rows:
        try:
            parsed.append(parse_row(line, cells, mapping, headers, region))
        except ValidationError as error:
            result.failures.append((line, error.translated(), cells))
    numbers = list({r.msisdn for r in parsed})
    known = {m.msisdn: m for m in db.session.scalars(
        sa.select(Member).where(Member.merchant_id == merchant.id, Member.msisdn.in_(numbers))
        .with_for_update())}
    fresh: dict[str, ImportRow] = {}
    points: dict[str, int] = {}
    opting_out: dict[str, Member] = {}
    for row in parsed:
        member = known.get(row.msisdn)
        try:
            if (first := seen.get(row.msisdn)) is not None:
                # two lines for one number: which one is right is the merchant's call, not ours
                raise ValidationError("The number %(msisdn)s is already on line %(line)s of this file",
                                      msisdn=row.msisdn, line=first)
            # checked before anything changes, so a refused line leaves its member as it was
            _check_tags(member.tag_names if member else [], row)
        except ValidationError as error:
            result.failures.append((row.line, error.translated(), row.cells))
            continue
        seen[row.msisdn] = row.line
        if member is None:
            fresh[row.msisdn] = row
            result.imported += 1
        elif member.deleted_at is not None:  # a soft-deleted member comes back, through the service
            prepare_member(merchant, row.msisdn, now=now, source=Source.IMPORT, revive=member, **row.fields,
                           consent=Consent(channel=Source.IMPORT, detail=f"{source_label}, line {row.line}"))
            result.imported += 1
            result.new_ids.append(member.id)
        else:
            set_member_fields(member, **_merged(member.tag_names, member.custom_fields, row.fields))
            result.updated += 1
        if row.points is not None:
            points[row.msisdn] = row.points
        if row.opted_out and member is not None:
            opting_out[row.msisdn] = member
    db.session.flush()
    ids = _insert_members(merchant, list(fresh.values()), now=now, source_label=source_label)
    revived = set(result.new_ids)
    result.new_ids += ids.values()
    emit_joined(merchant.id, [(member.id, member.msisdn) for member in known.values() if member.id in revived]
                + [(member_id, msisdn) for msisdn, member_id in ids.items()], source=Source.IMPORT, now=now)
    balances = [(ids[msisdn], 0, target) if msisdn in ids
                else (known[msisdn].id, known[msisdn].points_balance, target)
                for msisdn, target in points.items()]
    import_balances(merchant, balances, reason=f"导入积分 {source_label}", actor=actor, now=now)
    for member in opting_out.values():
        opt_out(member, now=now, how=Consent(Source.IMPORT, source_label))
    return result


def _check_tags(tags: list[str], row: ImportRow) -> None:
    added = [t for t in row.fields.get("tags", ()) if t not in tags]
    if len(tags) + len(added) > MAX_TAGS:
        raise ValidationError("The member would have more than %(count)s tags", count=MAX_TAGS)


def _merged(tags: list[str], custom: dict | None, fields: dict) -> dict:
    """An update adds tags and custom fields to what is there; it never takes any away."""
    merged = dict(fields)
    if "tags" in fields:
        merged["tags"] = tags + [t for t in fields["tags"] if t not in tags]
    if "custom_fields" in fields:
        merged["custom_fields"] = {**(custom or {}), **fields["custom_fields"]}
    return merged


def _insert_members(merchant: Merchant, rows: list[ImportRow], *, now: datetime,
                    source_label: str) -> dict[str, int]:
    """New members and their tags in two executemany INSERTs; returns msisdn → member id.

    The birthday and consent columns are filled by the members services' own setters, and the tier
    is what ``refresh_tier`` gives a member who joins today with no points earned.
    """
    if not rows:
        return {}
    earlier_stops = take_opt_outs(merchant, [row.msisdn for row in rows])
    score = rules.tenure_bonus(now, now, merchant.tenure_bonus)
    tier = rules.tier_for(score, merchant.tier_thresholds)
    values = []
    for row in rows:
        columns = SimpleNamespace()
        set_birthday(columns, row.fields.get("birthday"))
        consent = Consent(channel=Source.IMPORT, detail=f"{source_label}, line {row.line}")
        record_consent(columns, consent, now=now)
        values.append(dict(
            vars(columns), merchant_id=merchant.id, msisdn=row.msisdn, msisdn_rev=row.msisdn[::-1],
            name=row.fields.get("name", ""), name_key=name_sort_key(row.fields.get("name", "")), gender=row.fields.get("gender", Gender.UNKNOWN),
            custom_fields=row.fields.get("custom_fields", {}), joined_at=now, source=Source.IMPORT,
            opted_out=row.opted_out or row.msisdn in earlier_stops,
            opted_out_at=earlier_stops.get(row.msisdn, now if row.opted_out else None), last_visit_at=None,
            total_spend=0, tier=tier, tier_score=score, points_balance=0, deleted_at=None, created_at=now,
            updated_at=now))
    table = Member.__table__
    # rows come back in any order, matched up by number: asking for parameter order makes SQLite
    # insert row by row
    ids = {msisdn: member_id for member_id, msisdn in db.session.execute(
        sa.insert(table).returning(table.c.id, table.c.msisdn), values)}
    how = {row.msisdn: Consent(channel=Source.IMPORT, detail=f"{source_label}, line {row.line}") for row in rows}
    log_consents([(ids[row.msisdn], ConsentEvent.CONSENT, how[row.msisdn]) for row in rows]
                 + [(ids[row.msisdn], ConsentEvent.OPT_OUT, how[row.msisdn]) for row in rows if row.opted_out],
                 now=now, merchant_id=merchant.id)
    tags = [dict(member_id=ids[row.msisdn], tag=tag, merchant_id=merchant.id)
            for row in rows for tag in row.fields.get("tags", ())]
    if tags:
        db.session.execute(sa.insert(MemberTag.__table__), tags)
    return ids


def create_import(merchant: Merchant, *, staff_id: int | None, filename: str, data: bytes,
                  header: bool = True) -> MemberImport:
    """Keep an uploaded file for the mapping step; raises ValidationError when it is no readable CSV.

    The join gift and welcome SMS start as the merchant's settings; the mapping step may change them."""
    upload = inspect_upload(data, header=header)
    welcome = Welcome.of(merchant)
    job = MemberImport(merchant_id=merchant.id, staff_id=staff_id, filename=(filename or "")[:200],
                       encoding=upload.encoding, delimiter=upload.delimiter, headers=upload.headers,
                       has_header=header, mapping=guess_mapping(upload.headers, upload.first_row), data=data,
                       total_lines=upload.total_lines, welcome_gift=welcome.gift, welcome_sms=welcome.sms)
    db.session.add(job)
    db.session.flush()
    return job


def preview_rows(job: MemberImport, count: int = 5) -> list[list[str]]:
    return [cells for _line, cells in islice(_rows(job), count)]


def _rows(job: MemberImport):
    return read_rows(job.data.decode(job.encoding), job.delimiter, header=job.has_header)


def run_import(job: MemberImport, merchant: Merchant, *, actor: Actor, region: str, clock) -> None:
    """Import a mapped upload batch by batch, committing each batch together with the job's progress.

    The boundary of a background import, so it commits. Each batch commits with the job's counters,
    so the figures on the page are always what the database holds.
    """
    job.status, job.started_at = ImportStatus.RUNNING, clock()
    db.session.commit()
    try:
        headers, mapping = list(job.headers), dict(job.mapping)
        label = f"{job.filename or 'CSV'} #{job.id}"
        rows, seen = _rows(job), {}
        welcome = Welcome(gift=job.welcome_gift, sms=job.welcome_sms)
        while batch := list(islice(rows, BATCH_SIZE)):
            now = clock()
            result = import_batch(merchant, batch, mapping=mapping, headers=headers, region=region,
                                  actor=actor, now=now, source_label=label, seen=seen)
            if welcome.gift or welcome.sms:
                welcome_members(merchant, _members(result.new_ids), welcome, now=now, actor=actor)
            _record(job, result, lines=len(batch))
            db.session.commit()
    except Exception:
        # a background thread has nobody to raise to: the job must not stay "running" for ever
        logger.exception("member import %s stopped", job.id)
        db.session.rollback()
        job.status, job.finished_at = ImportStatus.FAILED, clock()
        job.message = N_("The import stopped on an unexpected error; the lines counted so far are in.")
        db.session.commit()
        return
    job.status, job.finished_at, job.data = ImportStatus.DONE, clock(), None
    db.session.commit()


#: the message of an import whose waiting file a member's erasure discarded
DISCARDED_BY_ERASURE = N_("The file was discarded: it held the number of a member whose data was erased on "
                          "request. Upload it again without that line.")


def erase_import_lines(merchant_id: int, msisdn: str, *, now: datetime) -> int:
    """A member's erasure: empty the cells of the merchant's failed import lines that hold the
    number (however written: spaces, dashes, +86), and discard the file of an import still waiting
    to start whose bytes hold its digits; a running one drops its file when it ends. The lines'
    numbers and reasons stay, for the import's counts. Returns the lines and files touched."""
    national = msisdn.removeprefix("+86")
    wanted = {national, "86" + national, "0086" + national}
    touched = 0
    imports = sa.select(MemberImport.id).where(MemberImport.merchant_id == merchant_id)
    for error in db.session.scalars(sa.select(MemberImportError).where(MemberImportError.import_id.in_(imports))):
        if any(re.sub(r"\D", "", str(cell)) in wanted for cell in error.cells or ()):
            error.cells, touched = [], touched + 1
    waiting = db.session.scalars(sa.select(MemberImport).where(
        MemberImport.merchant_id == merchant_id, MemberImport.data.is_not(None),
        MemberImport.status.in_([ImportStatus.MAPPING, ImportStatus.QUEUED])))
    digits = national.lstrip("+")
    for job in waiting:
        if any(digits.encode(codec) in job.data for codec in ("ascii", "utf-16-le", "utf-16-be")):
            job.data, job.status, job.finished_at, job.message = None, ImportStatus.FAILED, now, DISCARDED_BY_ERASURE
            touched += 1
    db.session.flush()
    return touched


def _members(ids: list[int]) -> list[Member]:
    return db.session.scalars(sa.select(Member).where(Member.id.in_(ids)).order_by(Member.id)).all() if ids else []


def _record(job: MemberImport, result: BatchResult, *, lines: int) -> None:
    job.imported += result.imported
    job.updated += result.updated
    job.failed += len(result.failures)
    job.processed += lines
    # a control code shows as � in the error report: where it was, without breaking the file
    db.session.add_all(MemberImportError(import_id=job.id, line=line, reason=reason[:200],
                                         cells=[CONTROL_CHARS.sub("\ufffd", cell) for cell in cells])
                       for line, reason, cells in result.failures)


def start_import(job: MemberImport, mapping: dict[str, str], welcome: Welcome | None = None) -> None:
    """Fix the column mapping and the new members' welcome (as the job has it when None), and queue
    the job; a second submit of the same mapping is refused."""
    check_mapping(mapping, job.headers)
    welcome = welcome or Welcome(gift=job.welcome_gift, sms=job.welcome_sms)
    # conditional, so that two submits racing each other cannot start the same import twice
    queued = db.session.execute(
        sa.update(MemberImport).where(MemberImport.id == job.id, MemberImport.status == ImportStatus.MAPPING)
        .values(status=ImportStatus.QUEUED, mapping=mapping, welcome_gift=welcome.gift, welcome_sms=welcome.sms),
        execution_options={"synchronize_session": False})
    if queued.rowcount != 1:
        raise ValidationError("This import has already started")
    db.session.refresh(job)


def list_import_errors(job: MemberImport, *, limit: int) -> list[MemberImportError]:
    return db.session.scalars(sa.select(MemberImportError).where(MemberImportError.import_id == job.id)
                              .order_by(MemberImportError.line).limit(limit)).all()


def error_report_csv(job: MemberImport, *, headers: list[str], batch: int = 1000):
    """Encoded chunks of a CSV of the failed lines: line, reason, then the line's own cells.

    In the upload's own encoding when that was GB18030, so Excel opens both the same way.
    """
    return csv_chunks(headers, ([e.line, e.reason, *map(safe_cell, e.cells)] for e in _import_errors(job, batch)),
                      codec=ENCODINGS[error_report_encoding(job)], batch=batch)


def error_report_encoding(job: MemberImport) -> str:
    return "gb18030" if job.encoding == "gb18030" else "utf-8"


def _import_errors(job: MemberImport, batch: int):
    last_line = 0
    while True:
        errors = db.session.scalars(
            sa.select(MemberImportError).where(MemberImportError.import_id == job.id,
                                               MemberImportError.line > last_line)
            .order_by(MemberImportError.line).limit(batch)).all()
        yield from errors
        if len(errors) < batch:
            return
        last_line = errors[-1].line


# -- export ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExportLabels:
    """The export's words in the console's language (the view translates them): the headers of
    member number, mobile, name, gender, birthday, tags, points, tier, total spend, last visit,
    joined and opted out, in that order; the gender names; yes and no (opted out); and the custom
    field marker (``Custom: %s``) that brings a custom column back as a custom field on import.

    The import maps mobile, name, gender, birthday, tags, points, opted out and the custom fields
    back, and leaves what mcrm keeps itself (number, tier, spend, visits, joined)."""
    headers: list[str]
    genders: dict[str, str]
    yes: str
    no: str
    custom: str


def export_csv(merchant: Merchant, filters: MemberFilter, *, labels: ExportLabels, encoding: str,
               local_time, batch: int = 1000):
    """Encoded chunks of a CSV of the filtered members with every field, one chunk per batch; never
    all rows in memory. Custom fields get a column each, named with ``labels.custom``.

    ``local_time`` formats an aware datetime in the merchant's zone (a view concern, passed in).
    """
    custom = custom_field_names(merchant, filters)

    def rows():
        for member in iter_members(merchant, filters, batch=batch):
            birthday = member_birthday(member)
            fields = member.custom_fields or {}
            yield [member.member_no, member.msisdn, safe_cell(member.name), labels.genders[member.gender],
                   birthday.display() if birthday else "", safe_cell(" ".join(member.tag_names)),
                   member.points_balance, safe_cell(member.tier), member.total_spend, local_time(member.last_visit_at),
                   local_time(member.joined_at), labels.yes if member.opted_out else labels.no,
                   *(safe_cell(fields.get(name, "")) for name in custom)]
    headers = [*labels.headers, *(labels.custom % name for name in custom)]
    return csv_chunks(headers, rows(), codec=ENCODINGS[encoding], batch=batch)
