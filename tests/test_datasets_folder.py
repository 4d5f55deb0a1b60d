import csv
import io
import os
import shutil

import numpy as np
import pytest
from PIL import Image, features

from skforensics import ImageLoadError
from skforensics.datasets import (
    IMAGE_EXTENSIONS,
    list_images,
    load_image_folder,
    load_images,
    load_sample_images,
)


@pytest.fixture(scope="module")
def jpgs():
    d = load_sample_images("cifake")
    return [p for p, y in zip(d.paths, d.y) if y == 0][:3], [
        p for p, y in zip(d.paths, d.y) if y == 1
    ][:3]


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
    assert sorted(set(data.generator.tolist())) == [
        "progan",
        "real:progan",
        "real:stylegan",
        "stylegan",
    ]
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
    # counted from the manifest, so a new set in the shared data needs no edit here
    with open(os.path.join(shared_data_dir, "MANIFEST.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    sets = sorted({r["path"].split("/")[0] for r in rows})
    assert {"cifake", "diffusiondb_coco", "multigen"} <= set(sets)
    n_fake = sum(r["label"] == "1" for r in rows)
    data = load_image_folder(os.path.join(shared_data_dir, "MANIFEST.csv"))
    assert len(data.paths) == len(rows) >= 20799 and int(data.y.sum()) == n_fake
    assert {"real:coco", "real:ffhq", "dall-e-2"} <= set(data.generator.tolist())
    folder = load_image_folder(shared_data_dir)  # <set>/real, <set>/fake at depth 2
    assert len(folder.paths) == len(rows)
    assert set(folder.generator.tolist()) == {g for s in sets for g in (s, f"real:{s}")}
    assert np.array_equal(np.sort(folder.y), np.sort(data.y))
    listing = list_images(shared_data_dir)
    assert len(listing.paths) == len(rows) and listing.errors == []
    assert sorted(os.path.basename(p) for p, _ in listing.unsupported) == [
        "MANIFEST.csv",
        "README.md",
    ]


# ------------------------------------------------------------------ list_images
def _img(path, fmt=None, size=(16, 12)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", size, (10, 200, 30)).save(path, fmt)
    return str(path)


def test_image_extensions_follow_pillow():
    for ext in (
        ".jpg",
        ".jpeg",
        ".jfif",
        ".png",
        ".apng",
        ".gif",
        ".webp",
        ".tif",
        ".tiff",
        ".bmp",
    ):
        assert ext in IMAGE_EXTENSIONS
    if features.check("avif"):
        assert ".avif" in IMAGE_EXTENSIONS
    assert ".txt" not in IMAGE_EXTENSIONS and ".csv" not in IMAGE_EXTENSIONS
    assert ".mpg" not in IMAGE_EXTENSIONS  # Pillow identifies MPEG but cannot decode it
    assert ".grib" not in IMAGE_EXTENSIONS  # stub format, needs a user handler
    assert all(e == e.lower() and e.startswith(".") for e in IMAGE_EXTENSIONS)


def test_list_images_formats_and_unsupported(tmp_path):
    d = tmp_path / "photos"
    made = [
        _img(d / "a.gif", "GIF"),
        _img(d / "b.jfif", "JPEG"),
        _img(d / "c.apng", "PNG"),
        _img(d / "D.JPG", "JPEG"),  # upper-case extension
        _img(d / "sub" / "e.webp", "WEBP"),
    ]
    if features.check("avif"):
        made.append(_img(d / "sub" / "f.avif", "AVIF"))
    (d / "notes.txt").write_text("x")
    (d / "noext").write_text("x")
    listing = list_images(d)
    assert sorted(listing.paths) == sorted(made)
    # stable order: names sorted, files of a folder before its sub-folders
    assert listing.paths[:4] == [str(d / n) for n in ("D.JPG", "a.gif", "b.jfif", "c.apng")]
    assert [os.path.basename(p) for p, _ in listing.unsupported] == ["noext", "notes.txt"]
    assert "'.txt' is not an image format" in dict(listing.unsupported)[str(d / "notes.txt")]
    assert listing.errors == []
    # every listed file decodes
    assert all(im.shape == (12, 16, 3) for im in load_images(listing.paths))
    # non-recursive
    assert len(list_images(d, recursive=False).paths) == 4
    # load_image_folder uses the same extension list
    os.rename(d, tmp_path / "fake")
    with pytest.warns(UserWarning, match="only generated"):
        assert len(load_image_folder(tmp_path).paths) == len(made)


def test_list_images_symlinks_loops_and_duplicates(tmp_path):
    base = tmp_path / "base"
    a = _img(base / "a.png")
    b = _img(tmp_path / "elsewhere" / "b.png")
    os.symlink(tmp_path / "elsewhere", base / "linked")  # symlinked sub-folder
    os.symlink(base, base / "loop")  # link back to a parent: must not loop
    os.symlink(tmp_path / "nowhere.png", base / "broken.png")
    os.symlink(a, base / "alias.png")  # a second name for a.png
    listing = list_images([base, base / "a.png", tmp_path / "elsewhere", str(base) + "/"])
    assert listing.paths == [a, str(base / "linked" / "b.png")]
    assert listing.errors == [(str(base / "broken.png"), "broken symbolic link")]
    assert os.path.samefile(listing.paths[1], b)
    # load_image_folder follows the link too
    fake = tmp_path / "ds" / "fake"
    fake.mkdir(parents=True)
    os.symlink(tmp_path / "elsewhere", fake / "more")
    _img(tmp_path / "ds" / "real" / "r.png")
    data = load_image_folder(tmp_path / "ds")
    assert sorted(os.path.basename(p) for p in data.paths) == ["b.png", "r.png"]


def test_list_images_explicit_files_and_stdin(tmp_path):
    a = _img(tmp_path / "a.png")
    odd = tmp_path / "photo.dat"  # explicit files are kept whatever the extension
    Image.new("RGB", (9, 9)).save(odd, "PNG")
    missing = str(tmp_path / "missing.jpg")  # reported later by the decoder
    d = tmp_path / "d"
    b = _img(d / "b.bmp", "BMP")
    stdin = io.StringIO(f"{a}\n\n{d}\n  {odd}  \n")
    listing = list_images([missing, "-", a], stdin=stdin)
    assert listing.paths == [missing, a, b, str(odd)]
    with pytest.raises(ImageLoadError, match="missing.jpg.*does not exist"):
        load_images(listing.paths[:1])


@pytest.mark.timeout(20)
def test_list_images_refuses_fifo_and_unlistable_folder(tmp_path, monkeypatch):
    d = tmp_path / "d"
    a = _img(d / "a.png")
    os.mkfifo(d / "pipe.jpg")
    listing = list_images(d)
    assert listing.paths == [a]
    assert listing.errors == [(str(d / "pipe.jpg"), "not a regular file (a FIFO / named pipe)")]
    real_scandir = os.scandir

    def deny(path):
        if os.fspath(path) == str(d):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", deny)
    listing = list_images([tmp_path])
    assert listing.paths == []
    assert listing.errors == [(str(d), "permission denied: the folder cannot be listed")]
