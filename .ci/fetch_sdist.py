"""Download the source release of ``PROJECT==VERSION`` from the package index into ``DEST``.

Reads the index's simple (PEP 503) page, so nothing of the package runs: ``pip download`` would
execute its setup script to prepare metadata. The index is ``$PIP_INDEX_URL`` when set, PyPI
otherwise; the file's sha256 from the index link is checked.

Usage: python .ci/fetch_sdist.py PROJECT VERSION DEST
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import urllib.parse
import urllib.request


def main(project: str, version: str, dest: str) -> None:
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    normalized = re.sub(r"[-_.]+", "-", project).lower()
    page_url = f"{index}/{normalized}/"
    with urllib.request.urlopen(page_url, timeout=60) as response:
        page = response.read().decode()
    wanted = f"{project}-{version}.tar.gz".lower()
    for href in re.findall(r'href="([^"]+)"', page):
        url, _, fragment = href.partition("#")
        filename = urllib.parse.unquote(url.rsplit("/", 1)[-1])
        if filename.lower() != wanted:
            continue
        target = os.path.join(dest, f"{project}-{version}.tar.gz")
        with urllib.request.urlopen(urllib.parse.urljoin(page_url, url), timeout=300) as response:
            data = response.read()
        if fragment.startswith("sha256="):
            digest = hashlib.sha256(data).hexdigest()
            if digest != fragment.removeprefix("sha256="):
                sys.exit(
                    f"fetch_sdist: {filename} from {page_url} has sha256 {digest}, "
                    f"the index says {fragment.removeprefix('sha256=')}"
                )
        with open(target, "wb") as handle:
            handle.write(data)
        print(f"fetch_sdist: {filename} ({len(data) // 1024} KiB) from {page_url}")
        return
    sys.exit(f"fetch_sdist: no {wanted} on {page_url}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
