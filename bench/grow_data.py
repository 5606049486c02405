"""Grow the real reviews file x10, x100, ... into a Parquet file, deterministically, for the
benchmarks only (scaling figures, never a reported model quality: the rows are derived from the
real ones, so a model scored on them would be judged on its own training text).

    python bench/grow_data.py --scale 10            # -> .run/data/reviews_x10.parquet
    python bench/grow_data.py --scale 100 --format csv

The first rows are the real file, unchanged; every other row starts from a real row (its
rating, place, month, votes) and varies it, seeded by (seed, row number):

- the text: sentences recombined from 1-3 real reviews of the same rating, then word swaps
  from a synonym table (including the Hinglish spellings the data has), a few typos
  (dropped, doubled or swapped letters), and sometimes the scraper's "READ MORE" tail;
- the title: another real title of the same rating, sometimes a synonym swap;
- a `Product` column (the real file reviews one product): one of ~40 products, each with its
  own rating mix, so per-product summaries have something to show.

Same seed, scale and format -> byte-identical output (no hash-ordered iteration, one writer
with a fixed row-group size, no pandas metadata).
Source: ../shared/data/flipkart_reviews_badminton.csv (read-only; see its README).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import random
import re
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "flipkart_reviews_badminton.csv"
OUT_DIR = ROOT / ".run" / "data"
ROW_GROUP = 65_536
CHUNK = 50_000
READ_MORE = "READ MORE"

SYNONYMS: dict[str, list[str]] = {
    "good": ["nice", "gud", "great", "fine", "decent"],
    "nice": ["good", "nyc", "great", "superb"],
    "great": ["awesome", "excellent", "super", "fantastic"],
    "awesome": ["awsm", "amazing", "great", "superb"],
    "excellent": ["outstanding", "superb", "great"],
    "bad": ["poor", "worst", "bakwas", "terrible", "pathetic"],
    "poor": ["bad", "low", "cheap", "weak"],
    "worst": ["pathetic", "terrible", "bad", "horrible"],
    "product": ["item", "shuttle", "pack", "thing"],
    "shuttle": ["shuttlecock", "cock", "birdie", "shuttle"],
    "quality": ["build", "quality", "material"],
    "price": ["cost", "rate", "price"],
    "delivery": ["shipping", "delivery", "courier"],
    "fast": ["quick", "speedy", "fast"],
    "very": ["really", "so", "too", "very very"],
    "money": ["cash", "paisa", "money"],
    "waste": ["wastage", "waste", "loss"],
    "broken": ["damaged", "torn", "broke"],
    "original": ["genuine", "authentic", "real"],
    "duplicate": ["fake", "copy", "duplicate"],
    "happy": ["satisfied", "glad", "happy"],
    "recommended": ["suggested", "recommended"],
    "buy": ["purchase", "order", "buy"],
}
PRODUCTS = [
    "YONEX MAVIS 350 Nylon Shuttle", "YONEX MAVIS 2000 Nylon Shuttle", "YONEX AEROSENSA 30 Feather",
    "Li-Ning AS 60 Feather Shuttle", "Li-Ning Marvel Nylon Shuttle", "Victor Nylon 2000",
    "Cosco Flyer Plastic Shuttle", "Cosco Nylon Shuttlecock 6 pc", "Nivia Wings Feather",
    "Silver's Blue Feather Shuttle", "HRS Nylon Shuttle", "Apacs Feather Shuttle",
    "Yonex GR 303 Racquet", "Yonex Nanoray Light 18i", "Li-Ning XP 2020 Racquet",
    "Cosco CB-90 Racquet", "Nivia Carbo Tec 2000", "Victor Thruster K Racquet",
    "Yonex BG 65 String", "Yonex Super Grap", "Li-Ning Grip GP 1000", "Nivia Badminton Net",
    "Cosco Badminton Kit", "Yonex SHB 36 Shoes", "Li-Ning Ultra Shoes", "Nivia Hy-Court Shoes",
    "Yonex Kit Bag SUNR 1006", "Li-Ning Backpack ABSP", "Strauss Badminton Set",
    "Boldfit Cotton Grip", "Jaspo Practice Shuttle", "Hipkoo Sports Racquet Pair",
    "Klapp Feather Shuttle", "Yonex Aerosensa 50", "Victor Master Ace", "Carlton Airblade",
    "Wilson Recon Racquet", "Babolat Satelite Lite", "Ashaway Cotton Grip", "Fox Nylon Shuttle",
]
SENTENCE = re.compile(r"(?<=[.!?])\s+|\.{2,}")
WORD = re.compile(r"[A-Za-z]+|[^A-Za-z]+")


def read_source(path: Path = DATA) -> pa.Table:
    if not path.is_file():
        sys.exit(f"the project's data is missing: expected {path} (see ../shared/data/README.md)")
    with open(path, encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader(f))
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types={c: pa.string() for c in header}, strings_can_be_null=False))


def _swap(word: str, rng: random.Random) -> str:
    options = SYNONYMS.get(word.lower())
    if not options:
        return word
    choice = rng.choice(options)
    return choice.capitalize() if word[:1].isupper() else choice


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    return word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]


def vary(text: str, rng: random.Random, swap_p: float = 0.25, typo_p: float = 0.03) -> str:
    out = []
    for token in WORD.findall(text):
        if token[0].isalpha():
            if rng.random() < swap_p:
                token = _swap(token, rng)
            if rng.random() < typo_p:
                token = _typo(token, rng)
        out.append(token)
    return "".join(out)


def sentences(text: str) -> list[str]:
    body = text[: -len(READ_MORE)] if text.endswith(READ_MORE) else text
    return [s.strip() for s in SENTENCE.split(body) if s and s.strip()]


class Grower:
    def __init__(self, source: pa.Table, seed: int) -> None:
        self.source = source.to_pydict()
        self.columns = source.schema.names
        self.n = source.num_rows
        by_rating: dict[str, list[int]] = {}
        for i, r in enumerate(self.source["Ratings"]):
            by_rating.setdefault(r, []).append(i)
        self.by_rating = by_rating
        self.sentences = [sentences(t) for t in self.source["Review text"]]
        self.seed = seed
        # each product's own rating lean: a weight on 1-2 star rows
        lean = random.Random(seed)
        self.product_lean = [lean.choice([0.2, 0.5, 1.0, 1.0, 1.0, 2.0, 4.0]) for _ in PRODUCTS]

    def row(self, k: int) -> dict[str, str]:
        """Synthetic row k (k >= n), from real row k % n; independent of every other row."""
        rng = random.Random(f"{self.seed}:{k}")
        base = k % self.n
        src = self.source
        rating = src["Ratings"][base]
        row = {c: src[c][base] for c in self.columns}
        same = self.by_rating[rating]
        text = src["Review text"][base]
        tail = READ_MORE if text.endswith(READ_MORE) else ""
        text = text[: len(text) - len(tail)]
        if text.strip() and rng.random() < 0.6:
            parts = list(self.sentences[base]) or [text]
            for other in rng.sample(same, k=min(len(same), rng.randrange(1, 3))):
                parts += self.sentences[other][:2]
            rng.shuffle(parts)
            parts = parts[: rng.randrange(1, 4)]
            text = " ".join(p if p[-1:] in ".!?" else p + "." for p in parts)
            tail = READ_MORE if rng.random() < 0.7 else ""
        row["Review text"] = (vary(text, rng) + tail) if text.strip() else text + tail
        title = src["Review Title"][rng.choice(same)] if rng.random() < 0.5 else row["Review Title"]
        row["Review Title"] = vary(title, rng, swap_p=0.3, typo_p=0.01) if title else title
        product = rng.randrange(len(PRODUCTS))
        if rating in ("1", "2") and rng.random() < 0.5:  # negative rows lean to some products
            weights = self.product_lean
            product = rng.choices(range(len(PRODUCTS)), weights=weights)[0]
        row["Product"] = PRODUCTS[product]
        return row

    def chunks(self, scale: int):
        total = self.n * scale
        columns = [*self.columns, "Product"]
        for start in range(0, total, CHUNK):
            stop = min(start + CHUNK, total)
            rows: dict[str, list[str]] = {c: [] for c in columns}
            for k in range(start, stop):
                if k < self.n:
                    row = {c: self.source[c][k] for c in self.columns} | {"Product": PRODUCTS[0]}
                else:
                    row = self.row(k)
                for c in columns:
                    rows[c].append(row[c])
            yield pa.table({c: pa.array(rows[c], pa.string()) for c in columns})


def grow(scale: int, seed: int = 0, fmt: str = "parquet", out: Path | None = None,
         source: Path = DATA) -> Path:
    out = out or OUT_DIR / f"reviews_x{scale}.{fmt}"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    grower = Grower(read_source(source), seed)
    writer = None
    try:
        for table in grower.chunks(scale):
            if writer is None:
                writer = (pq.ParquetWriter(tmp, table.schema, compression="zstd")
                          if fmt == "parquet" else pacsv.CSVWriter(tmp, table.schema))
            if fmt == "parquet":
                writer.write_table(table, row_group_size=ROW_GROUP)
            else:
                writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(out)
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", default="parquet", choices=["parquet", "csv"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    path = grow(args.scale, args.seed, args.format, args.out)
    print(f"{path} {pq.ParquetFile(path).metadata.num_rows if args.format == 'parquet' else ''} "
          f"rows sha256 {sha256(path)}")


if __name__ == "__main__":
    main()
