"""Server-side SVG bar charts for survey results: no script, no CDN, text escaped."""
from markupsafe import Markup, escape

BAR_HEIGHT = 22
LABEL_WIDTH = 110
WIDTH = 320


def bar_chart(rows: list[tuple[str, int]]) -> Markup:
    """Horizontal bars, one per (label, count), each as long as its share of the largest count."""
    top = max((count for _label, count in rows), default=0) or 1
    span = WIDTH - LABEL_WIDTH - 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} '
             f'{BAR_HEIGHT * len(rows) + 4}" width="100%">']
    for index, (label, count) in enumerate(rows):
        y = index * BAR_HEIGHT + 2
        length = round(span * count / top)
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{escape(label[:16])}</text>'
                     f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{length}" height="{BAR_HEIGHT - 6}" fill="#3b7dd8"/>'
                     f'<text x="{LABEL_WIDTH + length + 4}" y="{y + 15}" font-size="12">{count}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
