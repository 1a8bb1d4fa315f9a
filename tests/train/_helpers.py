"""Rewriting a saved checkpoint, for the tests of abcref/train that need a damaged one."""

import json
import zipfile

import numpy as np

from abcref.train import load_checkpoint


def rewrite(src, dst, *, drop=(), metadata=None):
    """Copy an npz archive, dropping members or replacing the metadata; return ``dst``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if item.filename in drop:
                continue
            if metadata is not None and item.filename == "metadata.json.npy":
                with zout.open(item.filename, "w") as f:
                    np.lib.format.write_array(
                        f, np.frombuffer(json.dumps(metadata).encode(), np.uint8)
                    )
                continue
            zout.writestr(item, zin.read(item.filename))
    return dst


def with_metadata(src, dst, **changes):
    """Copy a checkpoint, replacing fields of its JSON metadata; return ``dst``."""
    return rewrite(src, dst, metadata={**load_checkpoint(src).metadata, **changes})
