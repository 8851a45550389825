"""The sponsor's report as an A4 PDF a sponsor can forward as is, drawn with reportlab.

The PDF uses the standard Helvetica fonts, which a reader always has, so nothing is embedded
and the file stays small; they cover Western European text (é, œ, €), and the few letters
outside it are folded to their base letter (ő to o) where one exists. The same report gives
the same bytes (`invariant`), so tests and the docs' picture of it are stable."""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing
from reportlab.graphics.widgets.markers import Marker
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from chalicelib.bilan.labels import (
    NARROW_NO_BREAK_SPACE,
    Texts,
    format_date,
    format_money,
    format_number,
    format_short_date,
    texts,
)
from chalicelib.domain.areas import MIN_PARTICIPANTS_SHOWN
from chalicelib.domain.locale import language_for
from chalicelib.domain.model import ChallengeStatus, DeliveryStatus, Metric, Target
from chalicelib.domain.sponsor_report import ReportSubject, SponsorReport

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
BAND_HEIGHT = 24 * mm
FOOTER_HEIGHT = 12 * mm
BAND_FONT_SIZE = 17
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
# platypus insets its frame by 6 points: the page margins are narrowed by as much, so the
# text lines up with the header band's and the footer's.
FRAME_PADDING = 6
# A chart's plotting area is as high as this; its drawing adds room for the labels around it.
PLOT_HEIGHT = round(34 * mm)
LABEL_ROOM = round(10 * mm)  # below a chart, for its axis labels
SLANTED_LABEL_ROOM = round(24 * mm)
# A sober colour for crowdact's own reports and for an organisation that chose none.
FALLBACK_COLOR = "#2e7d32"
INK = colors.HexColor("#212121")
MUTED = colors.HexColor("#616161")
GREY = colors.HexColor("#9e9e9e")
RULE = colors.HexColor("#e0e0e0")
ZEBRA = colors.HexColor("#f5f5f5")
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
NO_BREAK_SPACE = "\u00a0"
# Letters with a stroke that Unicode does not decompose into a base letter and a mark.
_UNDECOMPOSABLE = str.maketrans("ŁłĐđĦħŦŧı", "LlDdHhTti")
FIGURES_PER_ROW = 3
BAR_LABEL_LENGTH = 18
# More bars than this and their labels are slanted, so that they do not run into each other.
UPRIGHT_BAR_LABELS = 6
# An axis with more days than this labels only some of them, so the labels do not overlap.
MAX_DAY_LABELS = 10


@dataclass(frozen=True)
class _Look:
    """What every part of the page shares: the report's texts and colours."""

    report: SponsorReport
    words: Texts
    primary: colors.Color  # the band, the tables' headers and the bars
    on_primary: colors.Color  # text on the primary colour: white, or ink on a pale colour
    accent: colors.Color  # big figures and the line on white: the primary, unless too pale

    @property
    def locale(self) -> str:
        return self.report.locale


def report_pdf(report: SponsorReport) -> bytes:
    """The report as an A4 PDF in the report's language."""
    look = _look(report)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN - FRAME_PADDING,
        rightMargin=MARGIN - FRAME_PADDING,
        topMargin=BAND_HEIGHT + 9 * mm,
        bottomMargin=MARGIN + FOOTER_HEIGHT,
        title=pdf_text(f"{_kicker(look)} – {report.title}"),
        author=pdf_text(report.branding.name),
        subject=pdf_text(_kicker(look)),
        creator="crowdact",
        lang=language_for(report.locale),
        invariant=1,
    )
    decorate = partial(_decorate_page, look)
    document.build(_story(look), onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def _day_text(look: _Look, moment: datetime) -> str:
    """The calendar day of a moment where the report's days are counted, in words."""
    return format_date(moment.astimezone(ZoneInfo(look.report.time_zone)).date(), look.locale)


def pdf_text(text: str) -> str:
    """Text Helvetica can show: a narrow no-break space (French thousands) becomes a no-break
    space, and a letter outside Windows-1252 its base letter where it has one. Anything else
    is left for reportlab, which draws a box rather than failing."""
    return "".join(_fold(char) for char in text.replace(NARROW_NO_BREAK_SPACE, NO_BREAK_SPACE))


def _fold(char: str) -> str:
    if _in_winansi(char):
        return char
    base = unicodedata.normalize("NFKD", char)[0].translate(_UNDECOMPOSABLE)
    return base if _in_winansi(base) else char


def _in_winansi(char: str) -> bool:
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def _look(report: SponsorReport) -> _Look:
    hex_color = report.branding.primary_color
    primary = colors.HexColor(
        hex_color if hex_color and _HEX_COLOR.match(hex_color) else FALLBACK_COLOR
    )
    pale = 0.2126 * primary.red + 0.7152 * primary.green + 0.0722 * primary.blue > 0.6
    if pale:
        return _Look(report, texts(report.locale), primary, INK, INK)
    return _Look(report, texts(report.locale), primary, colors.white, primary)


def _kicker(look: _Look) -> str:
    if look.report.subject is ReportSubject.CAMPAIGN:
        return look.words["kicker_campaign"]
    return look.words["kicker_challenge"]


# --- the page: header band and footer --------------------------------------------------


def _decorate_page(look: _Look, canvas: Canvas, document: SimpleDocTemplate) -> None:
    """The organisation's band at the top and the footer of every page."""
    canvas.saveState()
    _band(look, canvas)
    _footer(look, canvas)
    canvas.restoreState()


def _band(look: _Look, canvas: Canvas) -> None:
    """The organisation's name on its colour, shrunk to leave room for the kind of report."""
    top = PAGE_HEIGHT - BAND_HEIGHT
    canvas.setFillColor(look.primary)
    canvas.rect(0, top, PAGE_WIDTH, BAND_HEIGHT, stroke=0, fill=1)
    canvas.setFillColor(look.on_primary)
    kicker = pdf_text(_kicker(look))
    canvas.setFont("Helvetica", 10)
    canvas.drawRightString(PAGE_WIDTH - MARGIN, top + 11 * mm, kicker)
    name = pdf_text(look.report.branding.name)
    room = CONTENT_WIDTH - canvas.stringWidth(kicker, "Helvetica", 10) - 8 * mm
    width = max(canvas.stringWidth(name, "Helvetica-Bold", BAND_FONT_SIZE), 1)
    canvas.setFont("Helvetica-Bold", min(BAND_FONT_SIZE, BAND_FONT_SIZE * room / width))
    canvas.drawString(MARGIN, top + 11 * mm, name)
    _logo_link(look, canvas, top)


def _footer(look: _Look, canvas: Canvas) -> None:
    canvas.setStrokeColor(RULE)
    canvas.line(MARGIN, MARGIN + 6 * mm, PAGE_WIDTH - MARGIN, MARGIN + 6 * mm)
    canvas.setFillColor(MUTED)
    canvas.setFont("Helvetica", 8)
    generated = _day_text(look, look.report.generated_at)
    canvas.drawString(MARGIN, MARGIN, pdf_text(look.words["generated"].format(date=generated)))
    page = look.words["page"].format(number=canvas.getPageNumber())
    canvas.drawRightString(PAGE_WIDTH - MARGIN, MARGIN, page)


def _logo_link(look: _Look, canvas: Canvas, top: float) -> None:
    """The logo's address as a small link: the logo itself is never fetched."""
    url = look.report.branding.logo_url
    if not url:
        return
    canvas.setFont("Helvetica", 7.5)
    shown = pdf_text(url)
    canvas.drawString(MARGIN, top + 5 * mm, shown)
    width = canvas.stringWidth(shown, "Helvetica", 7.5)
    canvas.linkURL(url, (MARGIN, top + 4 * mm, MARGIN + width, top + 8 * mm), relative=0)


# --- the story: what flows from page to page -------------------------------------------


@dataclass(frozen=True)
class _Styles:
    title: ParagraphStyle
    body: ParagraphStyle
    label: ParagraphStyle
    figure: ParagraphStyle
    figure_label: ParagraphStyle
    heading: ParagraphStyle
    note: ParagraphStyle
    cell: ParagraphStyle
    number: ParagraphStyle


def _styles(look: _Look) -> _Styles:
    body = ParagraphStyle("body", fontName="Helvetica", fontSize=10, leading=14, textColor=INK)
    return _Styles(
        title=ParagraphStyle(
            "title", body, fontName="Helvetica-Bold", fontSize=22, leading=27, spaceAfter=6
        ),
        body=body,
        label=ParagraphStyle("label", body, fontSize=9, textColor=MUTED),
        figure=ParagraphStyle(
            "figure",
            body,
            fontName="Helvetica-Bold",
            fontSize=20,
            leading=24,
            textColor=look.accent,
        ),
        figure_label=ParagraphStyle("figure_label", body, fontSize=8.5, textColor=MUTED),
        heading=ParagraphStyle(
            "heading",
            body,
            fontName="Helvetica-Bold",
            fontSize=12,
            leading=16,
            spaceBefore=10,
            spaceAfter=4,
            keepWithNext=1,  # never alone at the foot of a page
        ),
        note=ParagraphStyle("note", body, fontSize=8.5, leading=11, textColor=MUTED),
        cell=ParagraphStyle("cell", body, fontSize=9, leading=11.5),
        number=ParagraphStyle("number", body, fontSize=9, leading=11.5, alignment=TA_RIGHT),
    )


def _para(text: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text: Paragraph reads markup, so a title such as "<b>" is escaped."""
    return Paragraph(escape(pdf_text(text)), style)


def _story(look: _Look) -> list[Flowable]:
    styles = _styles(look)
    report = look.report
    story: list[Flowable] = [_para(report.title, styles.title)]
    if report.description:
        story.append(_para(report.description, styles.body))
    story += [
        Spacer(1, 4 * mm),
        _details(look, styles),
        Spacer(1, 5 * mm),
        _figures(look, styles),
        KeepTogether(_days_chart(look, styles)),
        KeepTogether(_bar_chart(look, styles)),
    ]
    if report.subject is ReportSubject.CAMPAIGN:
        story += _challenges_table(look, styles)
    story += _teams_table(look, styles)
    story += _days_table(look, styles)
    return story


def _details(look: _Look, styles: _Styles) -> Table:
    """Who and when: the parties, the period, the status and the outcome, label by value."""
    rows = [
        (_para(label, styles.label), _para(value, styles.cell))
        for label, value in _detail_rows(look)
    ]
    table = Table(rows, colWidths=[45 * mm, CONTENT_WIDTH - 45 * mm], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.5, RULE),
                ("LEFTPADDING", (0, 0), (0, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _detail_rows(look: _Look) -> list[tuple[str, str]]:
    report, words = look.report, look.words
    rows = [
        _parties(words["sponsor"], words["sponsors"], report.sponsors),
        _parties(words["beneficiary"], words["beneficiaries"], report.beneficiaries),
        _parties(words["reward"], words["rewards"], report.rewards),
    ]
    period = _period(look)
    if period:
        rows.append((words["period"], period))
    if report.status is not None:
        rows.append((words["status"], _status_text(words, report.status)))
    if report.target is not None:
        rows.append((words["target"], _target_text(report.target, look)))
    rows.append(_reached(look))
    if report.ended_at is not None:
        rows.append((words["ended_on"], _day_text(look, report.ended_at)))
    return rows


def _status_text(words: Texts, status: ChallengeStatus) -> str:
    return {
        ChallengeStatus.DRAFT: words["status_draft"],
        ChallengeStatus.LIVE: words["status_live"],
        ChallengeStatus.ENDED: words["status_ended"],
        ChallengeStatus.CLOSED: words["status_closed"],
    }[status]


# A table row cannot break across pages: a campaign's parties and rewards, joined, are cut
# here (the CSV zip lists every one of them in challenges.csv).
MAX_DETAIL_CHARS = 600


def _parties(singular: str, plural: str, names: Sequence[str]) -> tuple[str, str]:
    joined = ", ".join(names) or "—"
    if len(joined) > MAX_DETAIL_CHARS:
        joined = joined[: MAX_DETAIL_CHARS - 1].rstrip() + "…"
    return (plural if len(names) > 1 else singular, joined)


def _period(look: _Look) -> str | None:
    report, words = look.report, look.words
    start = _day_text(look, report.starts_at) if report.starts_at else None
    end = _day_text(look, report.ends_at) if report.ends_at else None
    if start and end:
        return words["period_between"].format(start=start, end=end)
    if start:
        return words["period_from"].format(start=start)
    if end:
        return words["period_until"].format(end=end)
    return None


def _reached(look: _Look) -> tuple[str, str]:
    """When the target was reached; a campaign's is when its last challenge was, if all were."""
    report, words = look.report, look.words
    campaign = report.subject is ReportSubject.CAMPAIGN
    label = words["all_reached_on"] if campaign else words["reached_on"]
    if report.reached_at is not None:
        return label, _day_text(look, report.reached_at)
    return label, words["not_all_reached"] if campaign else words["not_reached"]


def _target_text(target: Target, look: _Look) -> str:
    unit = look.words["participants"] if target.metric is Metric.PARTICIPANTS else target.unit
    return f"{format_number(target.value, look.locale)} {unit or ''}".strip()


def _figures(look: _Look, styles: _Styles) -> Table:
    """The headline figures in big type, three to a row."""
    report, words = look.report, look.words
    figures = [
        (format_number(report.participants, look.locale), words["participants"]),
        (format_number(report.pledges, look.locale), words["pledges"]),
        (format_number(report.withdrawals, look.locale), words["withdrawals"]),
    ]
    figures += [
        (f"{format_number(value, look.locale)} {unit}", words["reported"])
        for unit, value in report.quantity.items()
    ]
    figures += [
        (f"{format_number(value, look.locale)} {unit}", words["promised"])
        for unit, value in report.promised.items()
    ]
    figures += [
        (format_money(paid.amount, paid.currency, look.locale), words["paid"])
        for paid in report.paid
    ]
    for status, label in (
        (DeliveryStatus.SENT, words["notifications_sent"]),
        (DeliveryStatus.FAILED, words["notifications_failed"]),
    ):
        figures.append((format_number(report.notifications_with(status), look.locale), label))
    cells = [
        [_para(value, styles.figure), _para(label, styles.figure_label)] for value, label in figures
    ]
    cells += [[]] * (-len(cells) % FIGURES_PER_ROW)
    rows = [cells[i : i + FIGURES_PER_ROW] for i in range(0, len(cells), FIGURES_PER_ROW)]
    table = Table(rows, colWidths=[CONTENT_WIDTH / FIGURES_PER_ROW] * FIGURES_PER_ROW)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
            ]
        )
    )
    return table


# --- the charts ------------------------------------------------------------------------


def _days_chart(look: _Look, styles: _Styles) -> list[Flowable]:
    """Live pledges at each day's end, against the target when the target counts people (a
    target in km is another scale: it is only told in the caption)."""
    words, report, target = look.words, look.report, look.report.target
    parts: list[Flowable] = [_para(words["chart_days"], styles.heading)]
    target_line = target is not None and target.metric is Metric.PARTICIPANTS and bool(report.days)
    if report.days:
        parts.append(_line_drawing(look, target.value if target and target_line else None))
    else:
        parts.append(_para(words["no_days"], styles.note))
    if target is not None:
        caption = words["chart_days_target_line"] if target_line else words["chart_days_target"]
        parts.append(_para(caption.format(target=_target_text(target, look)), styles.note))
    return parts


def _line_drawing(look: _Look, target: int | float | None) -> Drawing:
    days = look.report.days
    points = [(index, figures.cumulative) for index, figures in enumerate(days)]
    left, right = -0.5, len(days) - 0.5
    plot = LinePlot()
    plot.data = [points] + ([[(left, target), (right, target)]] if target is not None else [])
    plot.lines[0].strokeColor = look.accent
    plot.lines[0].strokeWidth = 2
    plot.lines[0].symbol = Marker(
        kind="FilledCircle", size=4, fillColor=look.accent, strokeColor=look.accent
    )
    plot.lines[1].strokeColor = GREY
    plot.lines[1].strokeDashArray = (4, 3)
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = left, right
    plot.xValueAxis.valueSteps = _label_steps(len(days))
    plot.xValueAxis.labelTextFormat = _day_label(look.locale, [d.day for d in days])
    plot.yValueAxis.valueMin = 0
    plot.yValueAxis.labelTextFormat = _number_label(look.locale)
    plot.yValueAxis.visibleGrid = 1
    plot.yValueAxis.gridStrokeColor = RULE
    _axis_fonts(plot.xValueAxis, plot.yValueAxis)
    return _drawing(plot, LABEL_ROOM)


def _drawing(chart: LinePlot | VerticalBarChart, below: int) -> Drawing:
    """A chart in a drawing as wide as the text, with room on the left for the values,
    `below` for the labels and above for the tallest bar's figure (whole points, as
    reportlab's charts want)."""
    left = round(14 * mm)
    chart.x, chart.y = left, below
    chart.width, chart.height = round(CONTENT_WIDTH) - left - round(4 * mm), PLOT_HEIGHT
    drawing = Drawing(CONTENT_WIDTH, below + PLOT_HEIGHT + round(6 * mm))
    drawing.add(chart)
    return drawing


def _label_steps(count: int) -> list[int]:
    """Which days get a label: all of them, or every n-th when they would overlap."""
    stride = -(-count // MAX_DAY_LABELS)
    return list(range(0, count, stride))


def _day_label(locale: str, days: Sequence[date]) -> Callable[[float], str]:
    def label(position: float) -> str:
        return pdf_text(format_short_date(days[round(position)], locale))

    return label


def _number_label(locale: str) -> Callable[[float], str]:
    def label(value: float) -> str:
        return pdf_text(format_number(value, locale))

    return label


def _axis_fonts(*axes: Any) -> None:  # a chart's axes are untyped in reportlab's stubs
    for axis in axes:
        axis.labels.fontName = "Helvetica"
        axis.labels.fontSize = 7.5
        axis.labels.fillColor = MUTED


def _bar_chart(look: _Look, styles: _Styles) -> list[Flowable]:
    """Participants per challenge (a campaign) or per area shown (a challenge), the areas
    too small to be shown together as a last grey bar."""
    report, words = look.report, look.words
    campaign = report.subject is ReportSubject.CAMPAIGN
    parts: list[Flowable] = [
        _para(words["chart_challenges"] if campaign else words["chart_areas"], styles.heading)
    ]
    bars = _bars(look)
    if not bars:
        return [*parts, _para(words["no_data"], styles.note)]
    grey_last = not campaign and report.hidden_participants > 0
    parts.append(_bar_drawing(look, bars, grey_last))
    if grey_last:
        note = words["elsewhere_note"].format(minimum=MIN_PARTICIPANTS_SHOWN)
        parts.append(_para(note, styles.note))
    return parts


def distinct_labels(titles: Sequence[str]) -> list[str]:
    """The titles without the words they all begin with ("Humanis mobility week: cycling",
    "…: walking" → "cycling", "walking"), so short bar labels still tell them apart."""
    if len(titles) < 2:
        return list(titles)
    words = [title.split(" ") for title in titles]
    common = 0
    while all(len(w) > common + 1 and w[common] == words[0][common] for w in words):
        common += 1
    return [" ".join(w[common:]) for w in words]


def _bars(look: _Look) -> list[tuple[str, int]]:
    report = look.report
    if report.subject is ReportSubject.CAMPAIGN:
        labels = distinct_labels([row.title for row in report.challenges])
        return [
            (label, row.participants) for label, row in zip(labels, report.challenges, strict=True)
        ]
    bars = [(area.area, area.participants) for area in report.areas]
    if report.hidden_participants > 0:
        bars.append((look.words["elsewhere"], report.hidden_participants))
    return bars


def _bar_drawing(look: _Look, bars: Sequence[tuple[str, int]], grey_last: bool) -> Drawing:
    slanted = len(bars) > UPRIGHT_BAR_LABELS
    chart = VerticalBarChart()
    chart.data = [[value for _, value in bars]]
    chart.categoryAxis.categoryNames = [pdf_text(_shorten(name)) for name, _ in bars]
    chart.bars[0].fillColor = look.primary
    chart.bars[0].strokeColor = None
    if grey_last:
        chart.bars[(0, len(bars) - 1)].fillColor = GREY
    chart.barWidth = 10
    chart.groupSpacing = 12
    chart.barLabelFormat = _number_label(look.locale)
    chart.barLabels.nudge = 6
    chart.barLabels.fontName = "Helvetica-Bold"
    chart.barLabels.fontSize = 8
    chart.barLabels.fillColor = INK
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labelTextFormat = _number_label(look.locale)
    chart.valueAxis.visibleGrid = 1
    chart.valueAxis.gridStrokeColor = RULE
    _axis_fonts(chart.categoryAxis, chart.valueAxis)
    if slanted:
        chart.categoryAxis.labels.angle = 30
        chart.categoryAxis.labels.boxAnchor = "ne"
    return _drawing(chart, SLANTED_LABEL_ROOM if slanted else LABEL_ROOM)


def _shorten(name: str) -> str:
    """A bar's label short enough to sit under its bar."""
    if len(name) <= BAR_LABEL_LENGTH:
        return name
    return name[: BAR_LABEL_LENGTH - 1].rstrip() + "…"


# --- the tables ------------------------------------------------------------------------


def _table(look: _Look, rows: list[list[Flowable]], widths: Sequence[float]) -> Table:
    """A table whose header row, in the organisation's colour, repeats on every page."""
    table = Table(rows, colWidths=list(widths), repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), look.primary),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, ZEBRA]),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LINEBELOW", (0, -1), (-1, -1), 0.5, RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _header(look: _Look, styles: _Styles, names: Sequence[str]) -> list[Flowable]:
    """Header cells in the colour that reads on the primary, right-aligned over the numbers
    (every column but the first)."""
    cells: list[Flowable] = []
    for index, name in enumerate(names):
        base = styles.number if index else styles.cell
        style = ParagraphStyle(
            f"header{index}", base, fontName="Helvetica-Bold", textColor=look.on_primary
        )
        cells.append(_para(name, style))
    return cells


def _challenges_table(look: _Look, styles: _Styles) -> list[Flowable]:
    words, locale = look.words, look.locale
    rows = [
        _header(
            look,
            styles,
            (
                words["challenge"],
                words["participants"].capitalize(),
                words["quantity"],
                words["reached_on"],
            ),
        )
    ]
    for row in look.report.challenges:
        quantity = f"{format_number(row.quantity, locale)} {row.target.unit or ''}".strip()
        reached = _day_text(look, row.reached_at) if row.reached_at else words["not_reached"]
        rows.append(
            [
                _para(row.title, styles.cell),
                _para(format_number(row.participants, locale), styles.number),
                _para(quantity, styles.number),
                _para(reached, styles.number),
            ]
        )
    widths = (CONTENT_WIDTH - 105 * mm, 25 * mm, 35 * mm, 45 * mm)
    return [_para(words["challenges_heading"], styles.heading), _table(look, rows, widths)]


def _teams_table(look: _Look, styles: _Styles) -> list[Flowable]:
    """The organisation's teams, as the report orders them (none: no table): names and
    counts, never a member's name."""
    words, locale = look.words, look.locale
    if not look.report.teams:
        return []
    rows = [
        _header(
            look, styles, (words["team"], words["participants"].capitalize(), words["quantity"])
        )
    ]
    for team in look.report.teams:
        quantity = f"{format_number(team.quantity, locale)} {team.unit or ''}".strip()
        rows.append(
            [
                _para(team.name, styles.cell),
                _para(format_number(team.participants, locale), styles.number),
                _para(quantity, styles.number),
            ]
        )
    widths = (CONTENT_WIDTH - 80 * mm, 35 * mm, 45 * mm)
    return [_para(words["teams_heading"], styles.heading), _table(look, rows, widths)]


def _days_table(look: _Look, styles: _Styles) -> list[Flowable]:
    words, locale = look.words, look.locale
    if not look.report.days:
        return []
    rows = [
        _header(
            look,
            styles,
            (
                words["day"],
                words["new_pledges"],
                words["withdrawals"].capitalize(),
                words["cumulative"],
            ),
        )
    ]
    for figures in look.report.days:
        rows.append(
            [
                _para(format_date(figures.day, locale), styles.cell),
                _para(format_number(figures.new_pledges, locale), styles.number),
                _para(format_number(figures.withdrawals, locale), styles.number),
                _para(format_number(figures.cumulative, locale), styles.number),
            ]
        )
    widths = (CONTENT_WIDTH - 120 * mm, 40 * mm, 40 * mm, 40 * mm)
    return [_para(words["days_heading"], styles.heading), _table(look, rows, widths)]


def prepare() -> None:
    """Render a small report once, so that reportlab's modules, fonts and chart classes are
    loaded before the first real request (the local stack's warm-up)."""
    from datetime import UTC

    from chalicelib.domain.model import Metric
    from chalicelib.domain.sponsor_report import Branding, DayFigures

    now = datetime(2026, 1, 1, tzinfo=UTC)
    report_pdf(
        SponsorReport(
            subject=ReportSubject.CHALLENGE,
            id="ch_warm",
            title="Warm-up",
            description="",
            locale="fr",
            time_zone="Europe/Paris",
            generated_at=now,
            branding=Branding("crowdact", primary_color="#2e7d32"),
            sponsors=("S",),
            beneficiaries=("B",),
            rewards=("R",),
            target=Target(Metric.PARTICIPANTS, 10),
            status=ChallengeStatus.LIVE,
            starts_at=now,
            ends_at=now,
            reached_at=now,
            ended_at=now,
            participants=1,
            pledges=1,
            withdrawals=0,
            quantity={"km": 1.5},
            days=(DayFigures(now.date(), 1, 0, 1), DayFigures(now.date(), 0, 0, 1)),
            areas=(),
            hidden_participants=1,
        )
    )
