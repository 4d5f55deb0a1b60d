"""Pseudo-fakes: real photos passed through generator-like decoders.

A detector trained on real photos against generated images learns whatever
separates the two sets, which is often the content, the size or the file
format. Passing the *same* real photos through a decoder of the kind image
generators end with (an up-sampling stack, or the autoencoder of a latent
diffusion model) gives "aligned" pairs: a real photo and a pseudo-fake that
differ only in the decoder's traces. Training on such pairs teaches those
traces, which many generators share. HRR's style retrospection, which
regenerates images through a latent diffusion model, works in the same spirit.
"""

from __future__ import annotations

import numbers
import os

import numpy as np
from sklearn.utils import check_random_state

from .._compat import HasMethods, Interval, Options, StrOptions, validate_params
from .._image_io import check_images

__all__ = ["make_pseudo_fakes"]

_UPSAMPLERS = ("transposed", "nearest", "bilinear")


def _build_upsampling_decoder(kind, width, n_up, generator):
    """A small residual up-sampling decoder; output = bilinear(x) + learned detail."""
    import torch
    from torch import nn

    class UpDecoder(nn.Module):
        def __init__(self):
            super().__init__()
            layers = [nn.Conv2d(3, width, 3, padding=1), nn.LeakyReLU(0.2)]
            for _ in range(n_up):
                if kind == "transposed":
                    layers += [nn.ConvTranspose2d(width, width, 4, stride=2, padding=1)]
                else:
                    layers += [
                        nn.Upsample(scale_factor=2, mode=kind),
                        nn.Conv2d(width, width, 3, padding=1),
                    ]
                layers += [nn.LeakyReLU(0.2)]
            layers += [nn.Conv2d(width, 3, 3, padding=1)]
            self.detail = nn.Sequential(*layers)
            self.scale = 2**n_up

        def forward(self, x):
            base = nn.functional.interpolate(
                x, scale_factor=self.scale, mode="bilinear", align_corners=False
            )
            return base + self.detail(x)

    with torch.random.fork_rng():
        torch.manual_seed(int(generator.integers(2**31)))
        return UpDecoder()


def _build_vae(n_up, generator):
    import torch
    from diffusers import AutoencoderKL

    with torch.random.fork_rng():
        torch.manual_seed(int(generator.integers(2**31)))
        return AutoencoderKL(
            down_block_types=("DownEncoderBlock2D",) * (n_up + 1),
            up_block_types=("UpDecoderBlock2D",) * (n_up + 1),
            block_out_channels=(16, 32, 32, 32)[: n_up + 1],
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=8,
            mid_block_add_attention=False,
        )


def _load_vae(vae):
    """A user's AutoencoderKL: an instance, a hub id or a local folder."""
    from diffusers import AutoencoderKL

    if isinstance(vae, AutoencoderKL):
        return vae
    from .._hub import offline_unless_reachable

    vae = os.fspath(vae)
    with offline_unless_reachable():
        if os.path.isdir(vae) and os.path.isdir(os.path.join(vae, "vae")):
            return AutoencoderKL.from_pretrained(vae, subfolder="vae")  # a pipeline folder
        return AutoencoderKL.from_pretrained(vae)


def _vae_forward(vae, x):
    return vae.decode(vae.encode(x).latent_dist.mode()).sample


def _random_crops(images, size, n, rng):
    out = []
    for _ in range(n):
        img = images[int(rng.integers(len(images)))]
        h, w = img.shape[:2]
        y = int(rng.integers(0, h - size + 1))
        x = int(rng.integers(0, w - size + 1))
        out.append(img[y : y + size, x : x + size])
    return np.stack(out)


def _to_tensor(batch):
    import torch

    return (
        torch.from_numpy(np.ascontiguousarray(batch))
        .permute(0, 3, 1, 2)
        .float()
        .div_(127.5)
        .sub_(1)
    )


def _to_uint8(t):
    return t.clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).numpy()


def _fit_decoder(decoder, images, *, is_vae, factor, fit_steps, rng, crop=64, batch=8):
    """Briefly fit ``decoder`` to reconstruct real crops (from their down-sampled copy)."""
    import torch
    from torch.nn import functional as F

    crop = max(factor * 8, min(crop, min(min(im.shape[:2]) for im in images) // factor * factor))
    opt = torch.optim.Adam(decoder.parameters(), lr=1e-3)
    decoder.train()
    for _ in range(fit_steps):
        target = _to_tensor(_random_crops(images, crop, batch, rng))
        if is_vae:
            post = decoder.encode(target).latent_dist
            recon = decoder.decode(post.sample()).sample
            loss = F.l1_loss(recon, target) + 1e-6 * post.kl().mean()
        else:
            small = F.interpolate(target, scale_factor=1 / factor, mode="area")
            loss = F.l1_loss(decoder(small), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    decoder.eval()
    return decoder


def _decode_one(decoder, img, *, is_vae, factor, tile):
    """Pass one image through the decoder, tile by tile (bounded memory)."""
    import torch
    from torch.nn import functional as F

    h, w = img.shape[:2]
    H, W = max(h // factor * factor, factor), max(w // factor * factor, factor)
    out = img.copy()
    with torch.inference_mode():
        for y in range(0, H, tile):
            for x in range(0, W, tile):
                t = _to_tensor(img[None, y : min(y + tile, H), x : min(x + tile, W)])
                if is_vae:
                    r = _vae_forward(decoder, t)
                else:
                    r = decoder(F.interpolate(t, scale_factor=1 / factor, mode="area"))
                out[y : y + r.shape[2], x : x + r.shape[3]] = _to_uint8(r)[0]
    return out


@validate_params(
    {
        "images": ["array-like"],
        "method": [StrOptions({"upsampling", "vae"})],
        "upsampler": [StrOptions({"random", *_UPSAMPLERS})],
        "factor": [StrOptions({"random"}), Options(numbers.Integral, {2, 4, 8})],
        "n_decoders": [Interval(numbers.Integral, 1, None, closed="left")],
        "fit_steps": [Interval(numbers.Integral, 0, None, closed="left")],
        "width": [Interval(numbers.Integral, 1, None, closed="left")],
        "vae": [None, str, os.PathLike, HasMethods(["encode", "decode"])],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_pseudo_fakes(
    images,
    *,
    method="upsampling",
    upsampler="random",
    factor=2,
    n_decoders=4,
    fit_steps=100,
    width=16,
    vae=None,
    random_state=None,
):
    """Make pseudo-fakes from real photos with generator-like decoders.

    Each image is passed through one of ``n_decoders`` small decoders of the
    kind generators end with, so that the output keeps the photo's content,
    size and colours and differs from it by the decoder's traces only. Train a
    detector on the photos (label 0) against these outputs (label 1), alone or
    added to real generated images: the pairs are aligned in content and
    format, so the only thing to learn is the decoder.

    * ``method="upsampling"``: the photo is down-sampled by ``factor`` (area
      averaging) and up-sampled back by a residual stack of ``log2(factor)``
      up-sampling layers: transposed convolution, or nearest / bilinear
      up-sampling followed by a convolution (``upsampler``), as in GAN and
      autoencoder decoders. The weights are random, then fitted for
      ``fit_steps`` Adam steps to reconstruct random crops of the given photos.
    * ``method="vae"``: a diffusers ``AutoencoderKL`` encodes and decodes the
      photo. With ``vae=None`` a small one (down-sampling by ``factor``, no
      attention) is built and fitted here for ``fit_steps`` steps; pass a hub
      id, a local folder or an ``AutoencoderKL`` instance (e.g. the VAE of a
      Stable Diffusion checkpoint you have) to use a pretrained one as is.

    Parameters
    ----------
    images : list of paths, PIL images or uint8 arrays
        Real photos, any sizes (each at least ``8 * factor`` pixels a side).
    method : {"upsampling", "vae"}, default="upsampling"
        Decoder family, see above.
    upsampler : {"random", "transposed", "nearest", "bilinear"}, default="random"
        Up-sampling layer of the ``"upsampling"`` decoders; ``"random"`` gives
        each decoder one at random.
    factor : {2, 4, 8} or "random", default=2
        Up-sampling factor of the decoders (a power of two); ``"random"``
        draws 2 or 4 per decoder.
    n_decoders : int, default=4
        Number of independently initialised (and fitted) decoders; each image
        goes through one of them, drawn at random. With a pretrained ``vae``
        there is one decoder.
    fit_steps : int, default=100
        Adam steps (batches of eight 64x64 crops) fitting each decoder to the
        photos; 0 keeps the random weights.
    width : int, default=16
        Channels of the ``"upsampling"`` decoders.
    vae : str, os.PathLike, AutoencoderKL or None, default=None
        Pretrained autoencoder for ``method="vae"``: a hub id, a local folder
        (a VAE or a diffusers pipeline with a ``vae`` sub-folder) or an
        instance.
    random_state : int, RandomState instance or None, default=None
        Seeds the decoders, crops and assignments (inside a forked torch RNG).

    Returns
    -------
    fakes : list of ndarray
        One uint8 ``(H, W, 3)`` image per input, the same size (cropped to a
        multiple of ``factor`` only where the size is not one: the border rows
        then keep the photo's pixels).

    Examples
    --------
    >>> import numpy as np
    >>> from skforensics.datasets import make_pseudo_fakes
    >>> rng = np.random.RandomState(0)
    >>> photos = [rng.randint(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(2)]
    >>> fakes = make_pseudo_fakes(photos, n_decoders=1, fit_steps=2, random_state=0)
    >>> fakes[0].shape, fakes[0].dtype
    ((64, 64, 3), dtype('uint8'))
    """
    import torch

    coll = check_images(images, name="images")
    imgs = [coll.load(i) for i in range(len(coll))]
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31))
    factors = [2, 4] if factor == "random" else [int(factor)]
    small = [i for i, im in enumerate(imgs) if min(im.shape[:2]) < 8 * max(factors)]
    if small:
        raise ValueError(
            f"image {small[0]} is {imgs[small[0]].shape[1]}x{imgs[small[0]].shape[0]}: "
            f"pseudo-fakes need at least {8 * max(factors)} pixels a side at factor {max(factors)}"
        )
    is_vae = method == "vae"
    decoders = []
    with torch.random.fork_rng():
        torch.manual_seed(int(rng.integers(2**31)))
        if is_vae and vae is not None:
            dec = _load_vae(vae).eval()
            n_down = 2 ** (len(dec.config.block_out_channels) - 1)
            decoders.append((dec, n_down))
        else:
            for _ in range(n_decoders):
                f = int(rng.choice(factors))
                n_up = int(np.log2(f))
                if is_vae:
                    dec = _build_vae(n_up, rng)
                else:
                    kind = upsampler if upsampler != "random" else str(rng.choice(_UPSAMPLERS))
                    dec = _build_upsampling_decoder(kind, width, n_up, rng)
                if fit_steps:
                    _fit_decoder(dec, imgs, is_vae=is_vae, factor=f, fit_steps=fit_steps, rng=rng)
                decoders.append((dec.eval(), f))
        choice = rng.integers(len(decoders), size=len(imgs))
        return [
            _decode_one(decoders[c][0], im, is_vae=is_vae, factor=decoders[c][1], tile=256)
            for c, im in zip(choice, imgs)
        ]
