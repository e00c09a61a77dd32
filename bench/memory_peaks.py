"""Peak memory of hostile inputs, each in a fresh process (peak RSS from getrusage, MB).

- a 9400x9400 16-bit grey PNG (170 KB on disk) decoded for indexing;
- a 1.1 MB zip holding 1 GiB of Instagram JSON, listed as an upload is;
- a 2 GiB sparse file named .jpg, read as a source;
- a link to /dev/zero named .jpg, read as a source;
- the baseline: the interpreter with facelib imported.

    python -m bench.memory_peaks
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = {
    "baseline (facelib imported)": "import facelib.images",
    "16-bit grey PNG 9400x9400": """
from facelib.images import decode
decode(open(GREY16, "rb").read(), "grey16.png")
""",
    "zip with 1 GiB of Instagram JSON": """
import io, zipfile
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
    with zf.open("your_instagram_activity/content/posts_1.json", "w", force_zip64=True) as f:
        f.write(b"["); chunk = b" " * (1 << 20)
        for _ in range(1024): f.write(chunk)
        f.write(b"]")
    zf.writestr("media/a.jpg", b"x")
from facelib import zip_sources
zip_sources(io.BytesIO(buf.getvalue()), "export.zip")
""",
    "2 GiB sparse file": """
import os, tempfile
p = os.path.join(tempfile.mkdtemp(), "sparse.jpg")
with open(p, "wb") as f: f.truncate(2 << 30)
from facelib import file_source
try: file_source(p).read()
except Exception as e: pass
""",
    "link to /dev/zero": """
import os, tempfile
p = os.path.join(tempfile.mkdtemp(), "zero.jpg"); os.symlink("/dev/zero", p)
from facelib import file_source
try: file_source(p).read()
except Exception as e: pass
""",
}


def peak_mb(code: str) -> float:
    probe = code + "\nimport resource, json; print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent, timeout=600).stdout
    return int(out.strip().splitlines()[-1]) / 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        grey16 = str(Path(tmp) / "grey16.png")  # made in its own process, so only decoding is measured
        subprocess.run([sys.executable, "-c", "import numpy as np; from PIL import Image; "
                        f"Image.fromarray(np.zeros((9400, 9400), np.uint16)).save({grey16!r})"], check=True)
        print(f"16-bit PNG: {Path(grey16).stat().st_size / 1e3:.0f} KB", file=sys.stderr)
        print(json.dumps({name: round(peak_mb(f"GREY16 = {grey16!r}\n" + code), 1) for name, code in CASES.items()},
                         indent=2))


if __name__ == "__main__":
    main()
