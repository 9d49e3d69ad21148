"""`credo runs serve`: a web viewer of run folders (runs, curves, episodes with per-step credit, module artefacts).

The package sits on top of the others: it only reads what `agents.runs.RunDir`, the credit modules and
`credo bench credit` write, and never imports torch. `viewer.app.create_app` builds the FastAPI app (the HTTP API
is documented there); the pages are plain HTML/JS/CSS under `viewer/static/` (no build step, no CDN: it works
offline). Reading is split by what is read: `files` (bounded JSONL reads and caches), `catalog` (finding runs,
their status and one summary row each), `episodes` (paged episodes of one iteration), `artefacts` (credit
modules' own files) and `suites` (`credo bench credit` suites: report and seed bands).
"""
