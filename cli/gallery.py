"""The self-contained HTML gallery of a report (pure: items and image bytes in, HTML out).

One file, no network: images are inlined as data URIs, CSS and JS are
inline, and a Content-Security-Policy forbids fetching anything else, so the
page can be mailed or archived and still shows the same thing. Boxes are
drawn as absolutely positioned elements whose left/top/width/height are the
bounding box ratios in percent of the image frame: they stay on the object
however the image is scaled. The page renders fully without JavaScript; the
script only adds the filters (label, minimum confidence, failed, key search),
whose state lives in the URL fragment so a filtered view can be shared, e.g.
``report.html#label=cat&label=dog&min=80``.
"""

from __future__ import annotations

import base64
import html
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from .results import Item

# Distinct, readable on photos, colour-blind friendlier first (Okabe-Ito, then Tableau).
PALETTE = (
    "#e69f00",
    "#56b4e9",
    "#009e73",
    "#f0e442",
    "#0072b2",
    "#d55e00",
    "#cc79a7",
    "#ff1f5b",
    "#00cd6c",
    "#af58ba",
    "#ffc61e",
    "#a0b1ba",
)


def label_colours(items: Sequence[Item]) -> dict[str, str]:
    """Colour per label: most frequent labels get the first (most distinct) colours."""
    counts = Counter(label.name for item in items for label in item.labels)
    ordered = sorted(counts, key=lambda name: (-counts[name], name))
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(ordered)}


def data_uri(content_type: str, body: bytes) -> str:
    return f"data:{content_type};base64,{base64.b64encode(body).decode('ascii')}"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _pct(value: float) -> str:
    return f"{value * 100:.3f}%"


def _frame(item: Item, image: tuple[str, bytes] | None, colours: Mapping[str, str]) -> str:
    if image is None:
        reason = "image not available" if item.ok else "no preview (not a PNG/JPEG, or gone)"
        return f'<div class="frame missing"><span>{_e(reason)}</span></div>'
    parts = [
        '<div class="frame">',
        f'<img src="{data_uri(*image)}" alt="{_e(item.key)}" loading="eager">',
    ]
    for label in item.labels:
        if label.box is None:
            continue
        box = label.box.clamped()
        style = (
            f"left:{_pct(box.left)};top:{_pct(box.top)};width:{_pct(box.width)};"
            f"height:{_pct(box.height)};--c:{colours[label.name]}"
        )
        parts.append(
            f'<div class="box" data-label="{_e(label.name)}" '
            f'data-confidence="{label.confidence:.3f}" style="{style}">'
            f'<span class="tag">{_e(label.name)} {label.confidence:.1f}%</span></div>'
        )
    parts.append("</div>")
    return "".join(parts)


def _card(item: Item, image: tuple[str, bytes] | None, colours: Mapping[str, str]) -> str:
    head = (
        f'<article class="card {"ok" if item.ok else "failed"}" data-key="{_e(item.key)}" '
        f'data-status="{_e(item.status)}" data-labels="{len(item.labels)}">'
    )
    body = [
        head,
        _frame(item, image, colours),
        f'<h2 class="key" title="{_e(item.key)}">{_e(item.key)}</h2>',
    ]
    if item.ok:
        if item.labels:
            body.append('<ul class="labels">')
            for label in item.labels:
                body.append(
                    f'<li data-label="{_e(label.name)}" data-confidence="{label.confidence:.3f}">'
                    f'<span class="swatch" style="--c:{colours[label.name]}"></span>'
                    f"{_e(label.name)} <b>{label.confidence:.1f}%</b>"
                    f"{'' if label.box else ' <i>(no box)</i>'}</li>"
                )
            body.append("</ul>")
        else:
            body.append('<p class="none">no labels above the confidence threshold</p>')
        if item.below_threshold:
            below = ", ".join(
                f"{_e(label.name)} {label.confidence:.1f}%" for label in item.below_threshold
            )
            body.append(f'<p class="none below">below threshold: {below}</p>')
    else:
        body.append(
            f'<p class="error"><code>{_e(item.error_code)}</code> {_e(item.error_message)}</p>'
        )
    if item.processed_at:
        body.append(f'<p class="when">{_e(item.processed_at)}</p>')
    body.append("</article>")
    return "".join(body)


def render(
    items: Sequence[Item],
    images: Mapping[str, tuple[str, bytes]],
    *,
    title: str = "Custom Labels results",
    subtitle: str = "",
    omitted: int = 0,
    generated_at: datetime | None = None,
) -> str:
    """The gallery page. ``images`` maps an item's key to (content type, bytes) to inline."""
    ok = [i for i in items if i.ok]
    failed = [i for i in items if not i.ok]
    colours = label_colours(ok)
    counts = Counter(label.name for item in ok for label in item.labels)
    unlabelled = sum(1 for i in ok if not i.labels)
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    filters = "".join(
        f'<label class="lf"><input type="checkbox" name="label" value="{_e(name)}" checked>'
        f'<span class="swatch" style="--c:{colours[name]}"></span>{_e(name)} '
        f"<small>{counts[name]}</small></label>"
        for name in colours
    )
    if unlabelled:
        filters += (
            '<label class="lf"><input type="checkbox" id="unlabelled" checked>'
            f'<span class="swatch none"></span><em>no labels</em> <small>{unlabelled}</small></label>'
        )
    stats = f"{len(items)} images · {len(ok)} labelled · {len(failed)} failed"
    if omitted:
        stats += f" · {omitted} more in the CSV only (--max-images)"
    ok_cards = "".join(_card(i, images.get(i.key), colours) for i in ok)
    failed_cards = "".join(_card(i, images.get(i.key), colours) for i in failed)
    return _PAGE.format(
        title=_e(title),
        subtitle=_e(subtitle),
        stats=_e(stats),
        when=_e(when),
        filters=filters or "<em>no labels found</em>",
        ok_cards=ok_cards or '<p class="empty">no processed images</p>',
        failed_count=len(failed),
        failed_cards=failed_cards,
        failed_hidden="" if failed else " hidden",
        script=_SCRIPT,
        style=_STYLE,
    )


_STYLE = """
:root{--bg:#f6f7f9;--fg:#1d2330;--muted:#5d6675;--card:#fff;--line:#dde1e7;--bad:#b42318}
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{padding:16px 24px 8px}
h1{font-size:20px;margin:0 0 4px}
.meta{color:var(--muted);margin:0}
#controls{position:sticky;top:0;z-index:5;background:var(--bg);border-bottom:1px solid var(--line);
  padding:8px 24px;display:flex;flex-wrap:wrap;gap:8px 20px;align-items:center}
#labels{display:flex;flex-wrap:wrap;gap:4px 12px;align-items:center}
.lf{white-space:nowrap;cursor:pointer}
.lf small{color:var(--muted)}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 2px;background:var(--c)}
.swatch.none{background:transparent;border:1px dashed var(--muted)}
button{font:inherit;padding:2px 8px;border:1px solid var(--line);background:var(--card);border-radius:4px;cursor:pointer}
#count{color:var(--muted);margin-left:auto}
main,#failed .grid{display:grid;align-items:start;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:16px;padding:16px 24px}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;overflow:hidden}
.card.wide{grid-column:1/-1}
.card.failed{border-color:var(--bad)}
.frame{position:relative;line-height:0;background:#222;cursor:zoom-in}
.frame img{display:block;width:100%;height:auto}
.frame.missing{line-height:1.4;color:#ccc;padding:40px 8px;text-align:center;cursor:default}
.box{position:absolute;border:3px solid var(--c);pointer-events:none}
.tag{position:absolute;left:-3px;top:-3px;transform:translateY(-100%);background:var(--c);color:#000;
  font:600 11px/1.5 system-ui,sans-serif;padding:0 4px;white-space:nowrap;border-radius:2px 2px 0 0}
.box.edge .tag{transform:none;border-radius:0 0 2px 0}
.key{font-size:13px;font-weight:600;margin:8px 10px 4px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.labels{list-style:none;margin:0 10px 8px;padding:0}
.labels li{display:inline-block;margin:0 10px 2px 0}
.none,.when{color:var(--muted);margin:0 10px 8px;font-size:12px}
.error{margin:0 10px 10px;color:var(--bad);word-break:break-word}
.error code{font-weight:700}
#failed>h2{font-size:16px;margin:8px 24px 0;color:var(--bad)}
[hidden]{display:none!important}
.empty{color:var(--muted)}
"""

_SCRIPT = """
(function(){
  const $ = (s, r) => (r || document).querySelectorAll(s);
  const boxes = $('input[name=label]');
  const unl = document.getElementById('unlabelled');
  const min = document.getElementById('min');
  const minOut = document.getElementById('min-value');
  const showFailed = document.getElementById('show-failed');
  const q = document.getElementById('q');
  function readHash(){
    const p = new URLSearchParams(location.hash.slice(1));
    if (p.has('label')) { const want = new Set(p.getAll('label')); boxes.forEach(b => b.checked = want.has(b.value)); }
    if (unl && p.has('unlabelled')) unl.checked = p.get('unlabelled') !== '0';
    if (p.has('min')) min.value = Math.max(0, Math.min(100, Number(p.get('min')) || 0));
    if (p.has('failed')) showFailed.checked = p.get('failed') !== '0';
    if (p.has('q')) q.value = p.get('q');
  }
  function writeHash(){
    const p = new URLSearchParams();
    const on = [...boxes].filter(b => b.checked);
    if (on.length !== boxes.length) { on.forEach(b => p.append('label', b.value)); if (!on.length) p.append('label', ''); }
    if (unl && !unl.checked) p.set('unlabelled', '0');
    if (Number(min.value) > 0) p.set('min', min.value);
    if (!showFailed.checked) p.set('failed', '0');
    if (q.value) p.set('q', q.value);
    const h = p.toString();
    history.replaceState(null, '', h ? '#' + h : location.pathname + location.search);
  }
  function apply(){
    const want = new Set([...boxes].filter(b => b.checked).map(b => b.value));
    const m = Number(min.value); minOut.textContent = m;
    const needle = q.value.trim().toLowerCase();
    let shown = 0, total = 0;
    $('article.card').forEach(card => {
      total++;
      const keyOk = !needle || card.dataset.key.toLowerCase().includes(needle);
      let visible;
      if (card.dataset.status === 'failed') { visible = keyOk && showFailed.checked; }
      else {
        let any = false;
        $('[data-label]', card).forEach(el => {
          const on = want.has(el.dataset.label) && Number(el.dataset.confidence) >= m;
          el.hidden = !on; any = any || on;
        });
        visible = keyOk && (any || (card.dataset.labels === '0' && (!unl || unl.checked)));
      }
      card.hidden = !visible; if (visible) shown++;
    });
    const failedSection = document.getElementById('failed');
    failedSection.querySelector(':scope > h2').hidden = !showFailed.checked;
    document.getElementById('count').textContent = 'showing ' + shown + ' of ' + total;
    document.body.dataset.shown = shown;
  }
  function changed(){ apply(); writeHash(); }
  readHash(); apply();
  [...boxes, min, showFailed, q].concat(unl ? [unl] : []).forEach(el => el.addEventListener('input', changed));
  document.getElementById('all').onclick = () => { boxes.forEach(b => b.checked = true); if (unl) unl.checked = true; changed(); };
  document.getElementById('none').onclick = () => { boxes.forEach(b => b.checked = false); if (unl) unl.checked = false; changed(); };
  window.addEventListener('hashchange', () => { readHash(); apply(); });
  $('.frame').forEach(f => f.addEventListener('click', () => f.closest('.card').classList.toggle('wide')));
  $('.box').forEach(b => { if (parseFloat(b.style.top) < 6) b.classList.add('edge'); });
})();
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p class="meta">{subtitle}</p>
<p class="meta">{stats} · generated {when}</p>
</header>
<section id="controls">
<div id="labels">{filters} <button type="button" id="all">all</button><button type="button" id="none">none</button></div>
<label>min confidence <input type="range" id="min" min="0" max="100" step="1" value="0"> <output id="min-value">0</output>%</label>
<label><input type="checkbox" id="show-failed" checked> failed images</label>
<input type="search" id="q" placeholder="filter by key" aria-label="filter by key">
<span id="count"></span>
</section>
<main id="gallery">{ok_cards}</main>
<section id="failed"{failed_hidden}>
<h2>Failed images ({failed_count})</h2>
<div class="grid">{failed_cards}</div>
</section>
<script>{script}</script>
</body>
</html>
"""
