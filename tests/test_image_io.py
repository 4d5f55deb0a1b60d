import io
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image, features

import skforensics._image_io as io_mod
from skforensics import ImageLoadError
from skforensics._image_io import check_images, load_image, load_images
from skforensics.datasets import get_max_image_pixels, set_max_image_pixels


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
    with pytest.raises(ImageLoadError, match=r"text\.jpg' is not a readable image") as e:
        load_images([good, str(text)])
    assert e.value.index == 1 and e.value.source == str(text)
    assert "X[" not in str(e.value)  # the file is named, not the internal index
    with pytest.raises(ImageLoadError, match=r"trunc\.jpg' could not be decoded.*truncated"):
        load_images([str(trunc)])
    # in-memory images have no name: their position is given
    with pytest.raises(ImageLoadError, match="image array at position 1 has dtype"):
        load_images([np.zeros((9, 9, 3), np.uint8), np.zeros((9, 9, 3), np.int64)])
    with pytest.raises(ImageLoadError, match="does not exist"):
        load_images([str(tmp_path / "missing.png")])
    with pytest.warns(UserWarning, match="1 image"):
        out = load_images([good, str(text)], on_error="skip")
    assert out[0].shape == (16, 16, 3) and out[1] is None


def test_tiny_and_huge_images_are_refused(tmp_path, monkeypatch):
    p = _save(tmp_path, "one.png", Image.new("RGB", (1, 1)))
    with pytest.raises(ImageLoadError, match="1x1 pixels"):
        load_images([p])
    p = _save(tmp_path, "big.png", Image.new("RGB", (20, 20)))
    previous = set_max_image_pixels(100)
    try:
        assert get_max_image_pixels() == 100
        with pytest.raises(ImageLoadError, match="400 pixels, more than the limit of 100"):
            load_images([p])
        with pytest.raises(ImageLoadError, match="decompression bomb"):
            load_images([np.zeros((20, 20, 3), np.uint8)])
    finally:
        set_max_image_pixels(previous)
    assert get_max_image_pixels() == previous == 200_000_000
    assert load_images([p])[0].shape == (20, 20, 3)
    for bad in (0, 63, 1.5e9, None, True):
        with pytest.raises(ValueError, match="max_pixels"):
            set_max_image_pixels(bad)


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


# ------------------------------------------------------------ file-system safety
@pytest.mark.timeout(20)
def test_fifo_is_refused_without_opening(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)  # opening it for reading would block until a writer appears
    with pytest.raises(ImageLoadError, match=r"pipe\.jpg' is a FIFO \(named pipe\), not a regular"):
        load_image(str(fifo))
    with pytest.warns(UserWarning, match="FIFO"):
        assert load_images([str(fifo)], on_error="skip") == [None]


def test_device_and_directory_are_refused(tmp_path):
    if os.path.exists("/dev/zero"):  # an endless file: would never finish decoding
        with pytest.raises(ImageLoadError, match="'/dev/zero' is a device"):
            load_image("/dev/zero")
    with pytest.raises(ImageLoadError, match="is a directory"):
        load_image(str(tmp_path))
    os.symlink(tmp_path / "gone.png", tmp_path / "link.png")
    with pytest.raises(ImageLoadError, match="broken symbolic link"):
        load_image(str(tmp_path / "link.png"))


def test_permission_denied_is_worded_as_such(tmp_path, monkeypatch):
    p = _save(tmp_path, "locked.png", Image.new("RGB", (16, 16)))
    os.chmod(p, 0)
    try:
        if os.geteuid() != 0:  # as root, chmod does not bite: simulate it below
            with pytest.raises(ImageLoadError, match="locked.png' cannot be read: permission"):
                load_image(p)
    finally:
        os.chmod(p, 0o644)
    real_open = os.open

    def deny(path, *args, **kw):
        if os.fspath(path) == p:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kw)

    monkeypatch.setattr(io_mod.os, "open", deny)
    with pytest.raises(
        ImageLoadError, match=r"locked\.png' cannot be read: permission denied"
    ) as e:
        load_image(p)
    assert "corrupt" not in str(e.value)
    monkeypatch.undo()

    def deny_pil(*args, **kw):  # a permission error raised while decoding
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Image, "open", deny_pil)
    with pytest.raises(ImageLoadError, match="permission denied"):
        load_image(p)


# ------------------------------------------------------------------ large photos
@pytest.fixture(scope="module")
def photo_108mp(tmp_path_factory):
    """A 12000 x 9000 (108 Mpx) JPEG, mostly flat so that it is small on disk."""
    p = tmp_path_factory.mktemp("big") / "phone.jpg"
    img = Image.new("RGB", (12000, 9000), (120, 130, 140))
    img.paste((200, 10, 10), (0, 0, 3000, 2000))  # top-left block, to check orientation
    img.save(p, quality=85)
    return str(p)


def _peak_rss_mb(code):
    """Peak resident memory (MB) of a fresh interpreter running ``code``."""
    out = subprocess.run(
        # VmHWM: peak of this process's own memory (ru_maxrss would include the
        # parent's, inherited across fork + exec)
        [
            sys.executable,
            "-c",
            code + "\nfor line in open('/proc/self/status'):\n"
            "    if line.startswith('VmHWM'): print(int(line.split()[1]) // 1024)",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return int(out.stdout.split()[-1]), out.stdout


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_108mp_photo_loads_with_default_limit(photo_108mp):
    # full resolution (what the crop-based extractors need): accepted under the
    # default limit, at most ~7 bytes per pixel at the peak (Pillow 4 + array 3)
    code = (
        "from skforensics.datasets import load_images\n"
        f"a = load_images([{photo_108mp!r}])[0]\n"
        "print(a.shape, a[100, 100].tolist(), a[5000, 8000].tolist())"
    )
    peak, out = _peak_rss_mb(code)
    assert "(9000, 12000, 3)" in out and "[200, 10, 10]" in out
    assert peak < 108 * 7 + 250, peak
    # reduced decoding (JPEG draft mode) for a consumer that resizes to 224
    code = (
        "from skforensics._image_io import load_image\n"
        f"a = load_image({photo_108mp!r}, reduce_to=224)\n"
        "print(a.shape)"
    )
    peak_small, out = _peak_rss_mb(code)
    assert "(1125, 1500, 3)" in out  # 1/8 scale: shorter side 1125 >= 2 * 224
    assert peak_small < 300 and peak_small < peak / 3, (peak_small, peak)


def test_reduced_decode_only_for_large_images(tmp_path):
    rng = np.random.RandomState(0)
    small = _save(tmp_path, "s.jpg", Image.fromarray(rng.randint(0, 256, (600, 800, 3), np.uint8)))
    # ordinary images decode exactly as before, whatever the hint
    np.testing.assert_array_equal(load_image(small, reduce_to=32), load_image(small))
    big = _save(tmp_path, "b.png", Image.new("RGB", (6000, 3000), (1, 2, 3)))
    out = load_image(big, reduce_to=100)  # not JPEG: box-reduced after decoding
    assert out.shape == (200, 400, 3) and (out == [1, 2, 3]).all()  # shorter side >= 200
    coll = check_images([big], reduce_to=100)
    assert coll.load(0).shape == (200, 400, 3)
    assert check_images([big]).load(0).shape == (3000, 6000, 3)
    if features.check("jpg_2000"):
        j2k = _save(tmp_path, "b.jp2", Image.new("RGB", (6000, 3000), (9, 9, 9)))
        assert max(load_image(j2k, reduce_to=100).shape[:2]) < 6000


def test_limit_above_pillows_own_works(tmp_path, monkeypatch):
    # Pillow refuses more than 2 * PIL.Image.MAX_IMAGE_PIXELS on its own; a higher
    # skforensics limit must still work, and leave Pillow's global as it was
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    p = _save(tmp_path, "p.png", Image.new("RGB", (100, 50)))  # 5000 > 2 * 1000
    with pytest.raises(Image.DecompressionBombError):
        Image.open(p)
    assert load_image(p).shape == (50, 100, 3)
    assert Image.MAX_IMAGE_PIXELS == 1000
    monkeypatch.setattr(io_mod, "MAX_IMAGE_PIXELS", 4000)
    with pytest.raises(ImageLoadError, match="more than the limit of 4,000"):
        load_image(p)


def _bomb_png(path, w, h):
    """A valid PNG header declaring ``w x h`` pixels, with almost no data."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )
    path.write_bytes(raw)
    return raw


def _bomb_gif(path, w, h):
    """A GIF whose logical screen is ``w x h`` pixels."""
    img = Image.new("P", (16, 16))
    buf = io.BytesIO()
    img.save(buf, "GIF")
    data = bytearray(buf.getvalue())
    struct.pack_into("<HH", data, 6, w, h)
    path.write_bytes(bytes(data))


def _bomb_ico(path, w, h):
    """An ICO whose directory declares 16x16 but whose embedded PNG is ``w x h``."""
    png = _bomb_png(path.with_suffix(".inner.png"), w, h)
    entry = struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, len(png), 6 + 16)
    path.write_bytes(struct.pack("<HHH", 0, 1, 1) + entry + png)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fmt", ["png", "gif", "ico"])
def test_bombs_are_refused_before_decoding(tmp_path, monkeypatch, fmt):
    calls = []
    from PIL import ImageFile

    real_load = ImageFile.ImageFile.load

    def spy_load(self):  # records any decode
        calls.append(type(self).__name__)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy_load)
    p = tmp_path / f"bomb.{fmt}"
    w, h = 30000, 30000  # 900 Mpx
    {"png": _bomb_png, "gif": _bomb_gif, "ico": _bomb_ico}[fmt](p, w, h)
    with pytest.raises(ImageLoadError, match=r"bomb\.%s.*more than the limit" % fmt) as e:
        load_image(str(p))
    assert "900,000,000 pixels" in str(e.value)
    assert calls == [], f"decoded before the check: {calls}"
    # a lower limit refuses a small, valid image of the same format, also before decoding
    small = tmp_path / f"small.{fmt}"
    Image.new("RGB", (64, 64), (5, 6, 7)).save(small)
    assert load_image(str(small)).shape == (64, 64, 3)
    calls.clear()
    monkeypatch.setattr(io_mod, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageLoadError, match="more than the limit of 1,000"):
        load_image(str(small))
    assert calls == []
