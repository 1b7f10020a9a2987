"""Survey imports: SIPAS and civil-servant (KSCB) surveys, from raw responses or per-unit
aggregates to the points of survey-fed sub-criteria (PAR-INDEX.md §4.4–4.5, decision 9(b)).

- `mapping`: which question codes / indicators feed which sub-criterion, how (share of 4–5
  answers, or the rescaled mean (mean − 1) / 4), optional stratum weights and the minimum valid
  sample; an event-sourced, versioned `SurveyMapping` aggregate.
- `reading`: streams a CSV or XLSX file row by row (encodings, headers, sheets, formulas, size).
- `conversion`: integer tallies per unit and the exact formulas from tallies to index and points.
- `model`: the `SurveyImport` aggregate (who, when, file hash, form, mapping version, row counts,
  rows set aside, per-unit results, sample decisions) and the `SurveyImportSeries` that says which
  import currently stands for a cycle, framework and instrument.
- `service`: dry run and import (one plan, so a dry run is exactly what the import would do),
  idempotent re-import, supersession, the secretariat's decisions on small samples, row traces.

Every point traces back to a file (SHA-256 in the blob store), its rows (listed again from the
file by `SurveyService.trace`) and a formula (in the `SurveyPointsApplied` detail).
"""
