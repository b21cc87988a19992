"""Loaders, the leave-one-out split (no leakage), batches and the synthetic generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys_cl.augment import SequenceAugmenter
from recsys_cl.batches import SequenceBatches
from recsys_cl.data_io import load_inter, load_sequences, load_txt
from recsys_cl.dataset import InteractionSequences
from recsys_cl.splits import leave_one_out
from recsys_cl.synthetic import synthetic_sequences


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_txt_reads_users_in_order(tmp_path):
    data = load_txt(_write(tmp_path, "toy.txt", "1 3 1 2\n2 2 4\n\n3 5 1 1 4\n"))
    assert data.users == ["1", "2", "3"]
    assert [s.tolist() for s in data.sequences] == [[3, 1, 2], [2, 4], [5, 1, 1, 4]]
    assert data.n_items == 5
    assert data.item_tokens is None  # ids 1..5 all occur: the file's ids are kept
    assert data.stats()["interactions"] == 9


def test_load_txt_renumbers_ids_with_gaps_and_keeps_the_tokens(tmp_path):
    data = load_txt(_write(tmp_path, "movies.txt", "1 3952 10 260\n2 10 3952 10\n"))
    assert data.n_items == 3  # ranking runs over the 3 movies that occur, not 3,952 ids
    assert [s.tolist() for s in data.sequences] == [[3, 1, 2], [1, 3, 1]]
    assert data.item_tokens == ["10", "260", "3952"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 3 0 2\n", "0 is the padding id"),
        ("1 3 x 2\n", "'x' is not an integer"),
        ("1 3\n1 4\n", "more than one line"),
        ("1\n", "has no items"),
        ("", "no interactions"),
    ],
)
def test_load_txt_rejects_bad_files_with_line_numbers(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        load_txt(_write(tmp_path, "bad.txt", text))


def test_missing_file_names_the_download_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="raw.githubusercontent.com/salesforce/ICLRec"):
        load_txt(tmp_path / "Beauty.txt")


def test_load_inter_orders_by_timestamp_and_maps_tokens(tmp_path):
    text = (
        "user_id:token\titem_id:token\ttimestamp:float\n"
        "u1\tA\t30\nu1\tB\t10\nu2\tB\t5\nu1\tC\t20\nu2\tA\t5\n"
    )
    data = load_inter(_write(tmp_path, "toy.inter", text))
    # tokens by first appearance: A=1, B=2, C=3; u1 by time: B(10) C(20) A(30);
    # u2's tie keeps file order
    assert data.users == ["u1", "u2"] or data.users == ["u2", "u1"]
    by_user = dict(zip(data.users, (s.tolist() for s in data.sequences), strict=True))
    assert by_user == {"u1": [2, 3, 1], "u2": [2, 1]}
    assert data.n_items == 3
    assert data.item_tokens == ["A", "B", "C"]


def test_load_inter_without_timestamp_keeps_file_order_and_checks_columns(tmp_path):
    data = load_sequences(
        _write(tmp_path, "t.inter", "user_id:token\titem_id:token\n1\t7\n1\t5\n2\t5\n")
    )
    assert [s.tolist() for s in data.sequences] == [[1, 2], [2]]
    with pytest.raises(ValueError, match="missing column"):
        load_inter(_write(tmp_path, "u.inter", "user:token\titem_id:token\n1\t7\n"))
    with pytest.raises(ValueError, match="unknown format"):
        load_sequences(_write(tmp_path, "x.csv", "1,2\n"))


def test_interaction_sequences_validate_ids():
    with pytest.raises(ValueError, match="outside 1..3"):
        InteractionSequences(["a"], [np.array([1, 4])], n_items=3)
    with pytest.raises(ValueError, match="empty sequence"):
        InteractionSequences(["a"], [np.array([], dtype=np.int64)], n_items=3)


def _toy() -> InteractionSequences:
    return InteractionSequences(
        ["a", "b", "c", "d"],
        [np.array([1, 2, 3, 4, 5]), np.array([6, 7, 8]), np.array([9]), np.array([3, 2, 1, 9])],
        n_items=9,
    )


def test_leave_one_out_samples_match_the_protocol():
    split = leave_one_out(_toy(), max_length=50)
    assert split.n_short_users == 1
    train = split.train.batch(np.arange(len(split.train)))
    pairs = {
        (tuple(s[:n].tolist()), int(t))
        for s, n, t in zip(train["seqs"], train["lengths"], train["targets"], strict=True)
    }
    assert pairs == {((1,), 2), ((1, 2), 3), ((3,), 2)}
    valid = split.valid.batch(np.arange(len(split.valid)))
    assert valid["targets"].tolist() == [4, 7, 1]
    assert valid["seqs"][0, :3].tolist() == [1, 2, 3] and valid["lengths"].tolist() == [3, 1, 2]
    test = split.test.batch(np.arange(len(split.test)))
    assert test["targets"].tolist() == [5, 8, 9]
    assert test["seqs"][0].tolist() == [1, 2, 3, 4] and test["lengths"].tolist() == [4, 2, 3]


def test_no_leakage_of_validation_or_test_items_into_training():
    data = synthetic_sequences(n_users=200, n_items=120, seed=3)
    split = leave_one_out(data, max_length=50)
    train_positions = set(split.train.ends.tolist())
    held_out = set(split.valid.ends.tolist()) | set(split.test.ends.tolist())
    assert train_positions.isdisjoint(held_out)
    # every training history ends before the validation position of its user
    ends_of_user = dict(zip(split.valid.starts.tolist(), split.valid.ends.tolist(), strict=True))
    pairs = zip(split.train.starts, split.train.ends, strict=True)
    assert all(end < ends_of_user[start] for start, end in pairs)
    assert len(split.train) == sum(len(s) - 3 for s in data.sequences)


def test_histories_keep_the_most_recent_items_left_aligned():
    data = InteractionSequences(["a"], [np.arange(1, 11)], n_items=10)
    split = leave_one_out(data, max_length=4)
    seqs, lengths = split.test.histories(np.array([0]))
    assert seqs.tolist() == [[6, 7, 8, 9]] and lengths.tolist() == [4]
    train = split.train.batch(np.arange(len(split.train)))
    assert train["lengths"].max() == 4 and train["seqs"].shape[1] == 4
    first = train["seqs"][0].tolist()
    assert first == [1, 0, 0, 0]


def test_all_short_users_is_a_clear_error():
    data = InteractionSequences(["a", "b"], [np.array([1]), np.array([1, 2])], n_items=2)
    with pytest.raises(ValueError, match="fewer than 3 items"):
        leave_one_out(data)


def test_batches_cover_each_sample_once_and_are_reproducible():
    split = leave_one_out(synthetic_sequences(n_users=100, n_items=80, seed=1))
    batches = SequenceBatches(split.train, 32, augmenter=SequenceAugmenter(), seed=5)
    epoch = list(batches)
    assert len(epoch) == len(batches)
    targets = torch.cat([b["targets"] for b in epoch]).sort().values
    assert torch.equal(targets, torch.from_numpy(np.sort(split.train.targets)))
    assert {"view1", "len1", "view2", "len2"} <= set(epoch[0])
    again = list(SequenceBatches(split.train, 32, augmenter=SequenceAugmenter(), seed=5))
    assert all(torch.equal(a["view1"], b["view1"]) for a, b in zip(epoch, again, strict=True))
    second_epoch = list(batches)
    assert not torch.equal(epoch[0]["targets"], second_epoch[0]["targets"])


def test_a_final_batch_of_one_joins_the_previous_batch():
    data = InteractionSequences(["a"], [np.arange(1, 15)], n_items=14)  # 11 training prefixes
    sizes = [len(b["targets"]) for b in SequenceBatches(leave_one_out(data).train, 5)]
    assert sizes == [5, 6]
    sizes = [len(b["targets"]) for b in SequenceBatches(leave_one_out(data).train, 4)]
    assert sizes == [4, 4, 3]


def test_synthetic_sequences_follow_the_planted_chain():
    data = synthetic_sequences(n_users=300, n_items=100, n_tastes=5, follow_prob=0.8, seed=0)
    again = synthetic_sequences(n_users=300, n_items=100, n_tastes=5, follow_prob=0.8, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(data.sequences, again.sequences, strict=True))
    assert min(len(s) for s in data.sequences) >= 5
    # successive items stay in the same taste group far more often than chance (1/5)
    same = np.mean(
        [((s[1:] - 1) * 5 // 100 == (s[:-1] - 1) * 5 // 100).mean() for s in data.sequences]
    )
    assert same > 0.8


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "users", "items", "interactions"),
    [
        ("Beauty.txt", 22363, 12101, 198502),
        ("Sports_and_Outdoors.txt", 35598, 18357, 296337),
        ("ml-1m_item5core.txt", 6040, 3416, 999611),
    ],
)
def test_real_files_match_the_published_statistics(data_dir, name, users, items, interactions):
    path = data_dir / "recsys" / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    data = load_txt(path)
    assert data.stats() == pytest.approx(
        {
            "users": users,
            "items": items,
            "interactions": interactions,
            "avg_length": interactions / users,
        }
    )
    split = leave_one_out(data, max_length=50)
    assert split.n_short_users == 0
    assert len(split.train) == interactions - 3 * users
    assert len(split.valid) == len(split.test) == users
