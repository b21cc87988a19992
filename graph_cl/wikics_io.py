"""Reading WikiCS (Mernyei and Cangea, 2020) from its ``data.json`` (plain JSON, no pickle).

The file (https://github.com/pmernyei/wiki-cs-dataset/raw/master/dataset/data.json) holds
``features`` (N lists of 300 floats), ``labels`` (N ints) and ``links`` (N adjacency lists), as
PyG's ``WikiCS`` reads them. Its 20 training / validation masks are not used here (the protocols
of ``graph_cl.evaluation`` draw their own splits). Errors name the file.

    >>> parts = read_wikics(Path("data/graph/WikiCS/raw/data.json"))
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

from shared.errors import InputError

WIKICS_URL = "https://github.com/pmernyei/wiki-cs-dataset/raw/master/dataset/data.json"


def read_wikics(path: Path) -> dict[str, Tensor]:
    """``x`` (N, 300), ``edge_index`` (2, E) from ``links``, ``y`` (N,)."""
    if not path.is_file():
        raise InputError(f"{path}: WikiCS file not found; download it from {WIKICS_URL}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        x = torch.tensor(raw["features"], dtype=torch.float32)
        y = torch.tensor(raw["labels"], dtype=torch.long)
        links = raw["links"]
        src = [i for i, js in enumerate(links) for _ in js]
        dst = [j for js in links for j in js]
        edge_index = torch.tensor([src, dst], dtype=torch.long).reshape(2, -1)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not a readable JSON file ({err})") from None
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(
            f"{path}: not a WikiCS data.json (needs features, labels, links: {err})"
        ) from None
    if x.dim() != 2 or y.shape != (x.shape[0],) or len(links) != x.shape[0]:
        raise InputError(
            f"{path}: {tuple(x.shape)} features, {tuple(y.shape)} labels and {len(links)} "
            "adjacency lists must describe the same nodes"
        )
    if y.numel() and y.min() < 0:
        raise InputError(f"{path}: labels must be non-negative")
    return {"x": x, "edge_index": edge_index, "y": y}
