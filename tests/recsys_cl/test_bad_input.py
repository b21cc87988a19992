"""Bad interaction files: each is one clear error naming the file, the line and the problem
(through ``contrast recsys pretrain``: one ``contrast: error:`` line, exit 2); usable files with
quirks (CRLF, a byte-order mark, tabs, blank lines) still load."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from recsys_cl.data_io import load_inter, load_sequences, load_txt
from shared.cli import main
from shared.errors import InputError


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


BAD_TXT = [
    ("30-digit id", "1 2 3\n2 4 123456789012345678901234567890 5\n", "line 2: item id 1234"),
    ("id above int64", "1 9223372036854775808\n", "line 1: item id 9223372036854775808 has 19"),
    ("Latin-1 user", b"1 2 3\ncaf\xe9 4 5\n", "line 2: not UTF-8 text (byte 0xe9)"),
    ("binary file", b"1 2 3\n\x00\x01\x02\x03", "line 2: a NUL byte, so this is a binary file"),
    ("letter id", "1 3 x 2\n", "line 1: item id 'x' is not an integer"),
    ("decimal id", "1 3 1.5\n", "line 1: item id '1.5' is not an integer"),
    ("non-ASCII digits", "1 3 \u0661\u0662\n", "line 1: item id '\u0661\u0662' is not an integer"),
    ("underscore id", "1 1_000\n", "line 1: item id '1_000' is not an integer"),
    ("plus sign", "1 +3\n", "line 1: item id '+3' is not an integer"),
    ("negative id", "1 3\n2 -4\n", "line 2: item id -4 is not allowed; ids start at 1"),
    ("padding id", "1 3 0 2\n", "line 1: item id 0 is not allowed"),
    ("user twice", "1 3\n1 4\n", "line 2: user 1 appears on more than one line"),
    ("user without items", "1 2\n7\n", "line 2: user 7 has no items"),
    ("empty file", "", "holds no interactions"),
    ("only blank lines", "\n  \n\n", "holds no interactions"),
]


@pytest.mark.parametrize(("case", "text", "message"), BAD_TXT, ids=[c[0] for c in BAD_TXT])
def test_bad_txt_files_name_file_and_line(tmp_path, case, text, message):
    path = _write(tmp_path, "bad.txt", text)
    with pytest.raises(InputError, match="^" + str(path).replace(".", r"\.")) as err:
        load_txt(path)
    assert message in str(err.value)


def test_txt_quirks_that_are_still_valid(tmp_path):
    text = "\ufeff1 3 2\r\n\r\n2\t2   3\n3 9223372036854775807 1\n"
    data = load_txt(_write(tmp_path, "ok.txt", text))
    assert data.users == ["1", "2", "3"]
    # ids 1, 2, 3 and 2**63 - 1 occur: renumbered 1..4 in increasing order
    assert [s.tolist() for s in data.sequences] == [[3, 2], [2, 3], [4, 1]]
    assert data.item_tokens == ["1", "2", "3", "9223372036854775807"]


def test_txt_without_final_newline_loads_with_a_warning(tmp_path, caplog):
    path = _write(tmp_path, "cut.txt", "1 1 2 3\n2 3 2")
    with caplog.at_level(logging.WARNING, logger="contrast"):
        data = load_txt(path)
    assert [s.tolist() for s in data.sequences] == [[1, 2, 3], [3, 2]]
    assert "last line (2) does not end with a newline" in caplog.text
    assert "user 2's sequence is incomplete" in caplog.text


HEADER = "user_id:token\titem_id:token\ttimestamp:float\n"
BAD_INTER = [
    ("Latin-1 item", (HEADER + "u1\tcaf\xe9\t1\n").encode("latin-1"), "line 2: not UTF-8 text"),
    ("binary file", b"\x1f\x8b\x08\x00\x00\x00", "line 1: a NUL byte, so this is a binary file"),
    ("empty file", "", "is empty; a .inter file starts with a header line"),
    ("header only", HEADER, "holds no interactions"),
    ("missing column", "user:token\titem_id:token\nu\t1\n", "missing column(s) ['user_id']"),
    ("extra field", HEADER + "u1\ti1\t1\nu1\ti2\t2\tx\n", "not a tab-separated .inter file"),
    ("truncated row", HEADER + "u1\ti1\t1\nu1\t", "line 3: empty user or item token"),
    ("bad timestamp", HEADER + "u1\ti1\t1\nu1\ti2\tnoon\n", "line 3: timestamp 'noon' is not"),
    ("cut timestamp", HEADER + "u1\ti1\t1\nu1\ti2\t", "line 3: timestamp '' is not a number"),
]


@pytest.mark.parametrize(("case", "content", "message"), BAD_INTER, ids=[c[0] for c in BAD_INTER])
def test_bad_inter_files_name_file_and_problem(tmp_path, case, content, message):
    path = _write(tmp_path, "bad.inter", content)
    with pytest.raises(InputError) as err:
        load_inter(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="gone.txt does not exist"):
        load_txt(tmp_path / "gone.txt")
    with pytest.raises(FileNotFoundError, match="gone.inter does not exist"):
        load_inter(tmp_path / "gone.inter")
    with pytest.raises(InputError, match=r"x\.csv: unknown format '\.csv'"):
        load_sequences(_write(tmp_path, "x.csv", "1,2\n"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("1 2 3 4\n2 4 123456789012345678901234567890 5\n", "line 2: item id 1234"),
        (b"1 2 3\n\xff\xfe 4 5\n", "line 2: not UTF-8 text"),
    ],
)
def test_cli_prints_one_error_line(tmp_path, capsys, content, message):
    path = _write(tmp_path, "bad.txt", content)
    argv = ["recsys", "pretrain", f"data.root={tmp_path}", "data.name=bad.txt"]
    assert main([*argv, f"trainer.out_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"contrast: error: {path} ") and message in err[0]
