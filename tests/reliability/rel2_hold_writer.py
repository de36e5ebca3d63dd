"""A writer that is killed mid-write: opens a temporary output through gms_models.files, writes
into it, prints ``HELD <temporary path>`` and sleeps until the parent test kills it.

Usage: python rel2_hold_writer.py {file,folder,outputs} DEST
(``outputs``: DEST is the folder of an output set holding ``grid.png``.)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from gms_models.files import atomic_path, output_set, staged_folder


def main() -> None:
    kind, dest = sys.argv[1], Path(sys.argv[2])
    if kind == "file":
        opened = atomic_path(dest)
    elif kind == "folder":
        opened = staged_folder(dest)
    else:
        opened = output_set(dest, ["grid.png"])
    with opened as tmp:
        if kind == "file":
            tmp.write_bytes(b"half a checkpoint")
        else:
            (tmp / "grid.png").write_bytes(b"half a picture")
        print(f"HELD {tmp}", flush=True)
        time.sleep(600)


if __name__ == "__main__":
    main()
