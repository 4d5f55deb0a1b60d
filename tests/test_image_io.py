import io
import os

import numpy as np
import pytest
from PIL import Image

from skforensics import ImageLoadError
from skforensics._image_io import check_images, load_image, load_images


def _save(tmp_path, name, img, **kw):
    p = tmp_path / name
    img.save(p, **kw)
    return str(p)


def test_modes_are_converted_to_rgb(tmp_path):
    rng = np.random.RandomState(0)
    rgb = rng.randint(0, 256, (20, 24, 3), dtype=np.uint8)
    gray = Image.fromarray(rgb[..., 0])
    rgba = Image.fromarray(np.dstack([rgb, np.full((20, 24), 7, np.uint8)]), "RGBA")
    pal = Image.fromarray(rgb).convert("P")
    cmyk = Image.fromarray(rgb).convert("CMYK")
    i16 = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
    paths = [
        _save(tmp_path, "g.png", gray),
        _save(tmp_path, "a.png", rgba),
        _save(tmp_path, "p.png", pal),
        _save(tmp_path, "c.jpg", cmyk),
        _save(tmp_path, "i16.png", i16),
    ]
    out = load_images(paths + [gray, rgba, rgb[..., 0], np.dstack([rgb, rgb[..., :1]])])
    for img in out:
        assert img.dtype == np.uint8 and img.shape == (20, 24, 3)
    # gray replicated, alpha dropped, 16-bit rescaled to 8-bit
    np.testing.assert_array_equal(out[0][..., 1], rgb[..., 0])
    np.testing.assert_array_equal(out[1], rgb)
    np.testing.assert_array_equal(out[4][..., 0], rgb[..., 0])


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((10, 30, 3), np.uint8)
    arr[:, :5] = 255  # white stripe on the left
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    p = _save(tmp_path, "o.jpg", img, exif=exif, quality=100)
    out = load_image(p)
    assert out.shape == (30, 10, 3)
    assert out[:5].mean() > 200 and out[-5:].mean() < 50  # stripe now on top


def test_corrupt_and_missing_files_name_file_and_index(tmp_path):
    good = _save(tmp_path, "good.png", Image.new("RGB", (16, 16)))
    text = tmp_path / "text.jpg"
    text.write_text("this is not an image")
    buf = io.BytesIO()
    Image.fromarray(np.random.RandomState(0).randint(0, 255, (64, 64, 3), np.uint8)).save(
        buf, "JPEG"
    )
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match=r"text\.jpg.*X\[1\]") as e:
        load_images([good, str(text)])
    assert e.value.index == 1
    with pytest.raises(ImageLoadError, match=r"trunc\.jpg.*X\[0\].*truncated"):
        load_images([str(trunc)])
    with pytest.raises(ImageLoadError, match="does not exist"):
        load_images([str(tmp_path / "missing.png")])
    with pytest.warns(UserWarning, match="1 image"):
        out = load_images([good, str(text)], on_error="skip")
    assert out[0].shape == (16, 16, 3) and out[1] is None


def test_tiny_and_huge_images_are_refused(tmp_path, monkeypatch):
    p = _save(tmp_path, "one.png", Image.new("RGB", (1, 1)))
    with pytest.raises(ImageLoadError, match="1x1 pixels"):
        load_images([p])
    import skforensics._image_io as io_mod

    monkeypatch.setattr(io_mod, "MAX_IMAGE_PIXELS", 100)
    p = _save(tmp_path, "big.png", Image.new("RGB", (20, 20)))
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        load_images([p])


@pytest.mark.parametrize(
    "X, match",
    [
        ([], "empty"),
        (np.zeros((0, 8, 8, 3), np.uint8), "empty"),
        (np.full((2, 8, 8, 3), np.nan), "NaN"),
        (np.zeros((2, 8, 8, 3), np.float64), "dtype float64"),
        (np.zeros((2, 8, 8, 5), np.uint8), "5 channels"),
        (np.zeros((2, 8), np.uint8), "shape"),
        ("image.jpg", "single"),
        ([np.full((8, 8, 3), np.nan)], None),
        ([3.5], None),
    ],
)
def test_bad_containers(X, match):
    with pytest.raises(ValueError, match=match):
        load_images(X)


def test_array_and_multiview_input():
    X = np.random.RandomState(0).randint(0, 256, (3, 2, 12, 12, 3)).astype(np.uint8)
    coll = check_images(X)
    assert len(coll) == 3 and coll.n_views == 2
    np.testing.assert_array_equal(coll.load(2, 1), X[2, 1])
    coll = check_images([[X[0, 0], X[0, 1]], [X[1, 0], X[1, 1]]])
    assert coll.n_views == 2
    with pytest.raises(ValueError, match="same, non-zero number of views"):
        check_images([[X[0, 0]], [X[1, 0], X[1, 1]]])
    # pathlib paths and numpy string arrays are accepted
    assert len(check_images(np.array(["a.png", "b.png"]))) == 2
    assert check_images([os.path.join("x", "y.png")]).n_views == 1
