"""annotations/ is sharded by sample-id prefix; flat files of older datasets are still found and moved
to their shard when the sample's annotation is written again."""

from __future__ import annotations

import hashlib
import json

from kellyd.catalog import Catalog
from kellyd.export import annotated_ids, annotation_path, out_of_date, write_annotations, write_manifest
from kellyd.sample import Sample, sample_id_for


def sample(n: int) -> Sample:
    sha = hashlib.sha256(f"annotated-{n}".encode()).hexdigest()
    return Sample(dataset_id="d", origin_path="", sample_id=sample_id_for(sha), sha256=sha, kind="midi",
                  file_path=f"raw/midi/{n}.mid", annotations={"emotion": "happy"})


def test_annotations_go_to_shards_and_flat_ones_move_there(tmp_path):
    root = tmp_path / "d"
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    kept, gone = sample(1), sample(2)
    with catalog.transaction():
        catalog.put_sample(kept, now=1.0)
    flat = root / "annotations" / f"{kept.sample_id}.json"
    flat.parent.mkdir(parents=True)
    flat.write_text("{}")  # as a kellyd before sharding wrote it
    (root / "annotations" / f"{gone.sample_id}.json").write_text("{}")  # a sample no longer in the catalog
    assert annotated_ids(root) == {kept.sample_id, gone.sample_id}
    assert out_of_date(catalog, "d", root) == {kept.sample_id, gone.sample_id}  # no manifest yet: both
    write_annotations(catalog, "d", [kept.sample_id, gone.sample_id], root)
    sharded = annotation_path(root, kept.sample_id)
    assert sharded.parent.name == kept.sample_id[:3] and sharded.parent.parent == root / "annotations"
    assert json.loads(sharded.read_bytes())["annotations"] == {"emotion": "happy"}
    assert not flat.exists() and annotated_ids(root) == {kept.sample_id}
    write_manifest(catalog, "d", root)
    assert out_of_date(catalog, "d", root) is None
    catalog.close()
