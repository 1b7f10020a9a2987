"""Publication outputs: exports (CSV, XLSX), charts (PNG, SVG) and the per-unit PDF report.

The builders are pure: they take the dicts `ReadModel` returns (so "as of a position or time"
comes for free) and return bytes. `data.py` gathers what several builders need from a
`ReadModel` (several years, group averages, the stages of an appraisal); `api/routes/outputs.py`
and `api/commands/outputs.py` decide who may read what and call these.

Vietnamese text is normalised to NFC everywhere, and drawn with DejaVu Sans, the font
matplotlib ships (it covers Vietnamese): `common.font_file()` names it.
"""
