"""`letterbridge separator-sheet` and `letterbridge samples generate`: paper and sample mail."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

samples_app = typer.Typer(
    help="Synthetic scanned mail for trying Letterbridge out.", no_args_is_help=True
)


def separator_sheet(
    out: Annotated[Path, typer.Option("--out", help="Where to write the one-page PDF.")] = Path(
        "separator-sheet.pdf"
    ),
) -> None:
    """Write the separator sheet to print: put one before each letter in a scanner run."""
    from ocr.separator import separator_sheet_pdf

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(separator_sheet_pdf())
    typer.echo(f"wrote {out}")


@samples_app.command("generate")
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder for roster CSVs, letters and truth.")],
    letters: Annotated[
        int, typer.Option("--letters", min=1, max=500, help="How many letters.")
    ] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same files.")] = 7,
    handwriting_share: Annotated[
        float,
        typer.Option(
            "--handwriting-share", min=0.0, max=1.0, help="Share of handwriting-style letters."
        ),
    ] = 0.3,
    inmates: Annotated[int, typer.Option("--inmates", min=6, help="Roster size.")] = 12,
    degrade: Annotated[str, typer.Option("--degrade", help="none | scan | hard")] = "scan",
) -> None:
    """Generate a roster and scanned sample letters (PDF) with their ground truth."""
    from letterbridge.samples import generate_sample_set

    if degrade not in ("none", "scan", "hard"):
        raise typer.BadParameter("--degrade must be none, scan or hard")
    result = generate_sample_set(
        out,
        n_letters=letters,
        seed=seed,
        handwriting_share=handwriting_share,
        n_inmates=inmates,
        degrade=degrade,
    )
    typer.echo(f"roster:   {result['roster_dir']}")
    for name, path in result["roster"].items():
        typer.echo(f"  {name:<11} {path}")
    typer.echo(f"letters:  {result['letters_dir']}")
    for path in result["letters"]:
        typer.echo(f"  {path}")
    typer.echo(f"truth:    {out / 'truth'} ({len(result['truth'])} files)")
    typer.echo(f"manifest: {result['manifest']}")
    typer.echo(
        f"next: letterbridge roster import --facilities {result['roster']['facilities']} "
        f"--inmates {result['roster']['inmates']} --volunteers {result['roster']['volunteers']} "
        f"--matches {result['roster']['matches']} && letterbridge ingest {result['letters_dir']}"
    )


def register(app: typer.Typer) -> None:
    app.command("separator-sheet")(separator_sheet)
    app.add_typer(samples_app, name="samples")
