import os
import shutil

import numpy as np
import pytest

from skforensics import ImageLoadError
from skforensics.datasets import load_image_folder, load_sample_images


@pytest.fixture(scope="module")
def jpgs():
    d = load_sample_images("cifake")
    return [p for p, y in zip(d.paths, d.y) if y == 0][:3], [p for p, y in zip(d.paths, d.y) if y == 1][:3]


def _fill(folder, files):
    os.makedirs(folder, exist_ok=True)
    for k, f in enumerate(files):
        shutil.copy(f, os.path.join(folder, f"img{k}.jpg"))


def test_real_fake_layout(tmp_path, jpgs):
    real, fake = jpgs
    _fill(tmp_path / "mygen" / "real", real)
    _fill(tmp_path / "mygen" / "fake", fake[:2])
    (tmp_path / "mygen" / "fake" / "notes.txt").write_text("ignored")
    data = load_image_folder(tmp_path / "mygen")
    assert len(data.paths) == 5
    assert data.y.tolist() == [1, 1, 0, 0, 0]
    assert data.generator.tolist() == ["mygen"] * 2 + ["real:mygen"] * 3
    assert data.target_names == ["real", "fake"]
    assert all(os.path.isabs(p) for p in data.paths)


def test_forensynths_layout_any_depth(tmp_path, jpgs):
    real, fake = jpgs
    for gen in ("progan", "stylegan"):
        for cat in ("car", "cat"):
            _fill(tmp_path / gen / cat / "0_real", real[:1])
            _fill(tmp_path / gen / cat / "1_fake", fake[:2])
    data = load_image_folder(tmp_path)
    assert len(data.paths) == 12
    assert sorted(set(data.generator.tolist())) == ["progan", "real:progan", "real:stylegan", "stylegan"]
    assert int(data.y.sum()) == 8


def test_genimage_layout(tmp_path, jpgs):
    real, fake = jpgs
    _fill(tmp_path / "Midjourney" / "train" / "nature", real)
    _fill(tmp_path / "Midjourney" / "val" / "ai", fake)
    data = load_image_folder(tmp_path, generator="mj")
    assert data.y.sum() == 3 and set(data.generator.tolist()) == {"mj", "real:mj"}


def test_csv_manifest(tmp_path, jpgs):
    real, fake = jpgs
    _fill(tmp_path / "imgs", real[:1] + fake[:1])
    (tmp_path / "m.csv").write_text(
        "path,label,generator,extra\nimgs/img0.jpg,real,camera,x\nimgs/img1.jpg,1,sd14,y\n"
    )
    data = load_image_folder(tmp_path / "m.csv")
    assert data.y.tolist() == [0, 1]
    assert data.generator.tolist() == ["camera", "sd14"]
    assert data.paths[0] == os.path.join(str(tmp_path), "imgs", "img0.jpg")
    (tmp_path / "n.csv").write_text("path,label\nimgs/img0.jpg,0\nimgs/img1.jpg,1\n")
    assert load_image_folder(tmp_path / "n.csv").generator.tolist() == ["real", "fake"]


def test_errors(tmp_path, jpgs):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "nope")
    (tmp_path / "empty" / "real").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images found"):
        load_image_folder(tmp_path / "empty")
    (tmp_path / "flat").mkdir()
    shutil.copy(jpgs[0][0], tmp_path / "flat" / "a.jpg")
    with pytest.raises(ValueError, match="real/fake"):
        load_image_folder(tmp_path / "flat")
    (tmp_path / "bad.csv").write_text("path,label\nflat/a.jpg,maybe\n")
    with pytest.raises(ValueError, match="unknown label 'maybe'.*line 2"):
        load_image_folder(tmp_path / "bad.csv")
    (tmp_path / "cols.csv").write_text("file,y\nflat/a.jpg,0\n")
    with pytest.raises(ValueError, match="'path' and 'label'"):
        load_image_folder(tmp_path / "cols.csv")
    (tmp_path / "miss.csv").write_text("path,label\nflat/zzz.jpg,0\n")
    with pytest.raises(FileNotFoundError, match="zzz.jpg"):
        load_image_folder(tmp_path / "miss.csv")


def test_unreadable_files(tmp_path, jpgs):
    _fill(tmp_path / "real", jpgs[0])
    _fill(tmp_path / "fake", jpgs[1])
    (tmp_path / "fake" / "broken.jpg").write_bytes(b"garbage")
    assert len(load_image_folder(tmp_path).paths) == 7  # not opened by default
    with pytest.raises(ImageLoadError, match="broken.jpg"):
        load_image_folder(tmp_path, check_files=True)
    with pytest.warns(UserWarning, match="unreadable"):
        data = load_image_folder(tmp_path, check_files=True, on_error="skip")
    assert len(data.paths) == 6


def test_single_class_warns(tmp_path, jpgs):
    _fill(tmp_path / "real", jpgs[0])
    with pytest.warns(UserWarning, match="only real"):
        load_image_folder(tmp_path)


def test_shared_data(shared_data_dir):
    data = load_image_folder(os.path.join(shared_data_dir, "MANIFEST.csv"))
    assert len(data.paths) == 20600 and int(data.y.sum()) == 10300
    assert "real:coco" in set(data.generator.tolist())
    folder = load_image_folder(shared_data_dir)  # <set>/real, <set>/fake at depth 2
    assert len(folder.paths) == 20600
    assert set(folder.generator.tolist()) == {
        "cifake", "real:cifake", "diffusiondb_coco", "real:diffusiondb_coco"}
    assert np.array_equal(np.sort(folder.y), np.sort(data.y))
