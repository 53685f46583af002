"""The page's JSON API without a browser: every endpoint, good and bad requests, and who
may ask.  Numbers are checked against SciPy, PyTorch and hand-worked values."""

from __future__ import annotations

import io
import itertools
import json
import time
from typing import Any

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F
from PIL import Image

from corr2d import kernels, receptive_field
from corr2d.io import read_kernel

CHAPTER = {
    "input": {"kind": "grid", "cells": [[0, 1, 2], [3, 4, 5], [6, 7, 8]]},
    "kernel": [[0, 1], [2, 3]],
}


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


# --- who may ask --------------------------------------------------------------------------


def test_info_lists_kernels_samples_and_limits(client):
    answer = client.get("/api/info")
    assert answer.status == 200
    body = answer.json()
    names = [k["name"] for k in body["kernels"]]
    assert names == kernels.names()
    assert {s["name"] for s in body["samples"]} == {"grace-hopper", "mri"}
    assert body["limits"]["max_kernel"] == [15, 15]


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_api_refuses_a_missing_or_wrong_token(client, token):
    answer = client.get("/api/info", token=token)
    assert answer.status == 403
    assert "token" in answer.json()["error"]
    answer = client.post("/api/correlate", CHAPTER, token=token)
    assert answer.status == 403


def test_api_takes_the_token_only_in_its_header(client):
    answer = client.get(f"/api/info?token={client.token}", token=None)
    assert answer.status == 403


def test_page_and_assets_need_the_token_in_the_url(client):
    assert client.get("/").status == 403
    assert client.get("/?token=nope").status == 403
    page = client.get(f"/?token={client.token}")
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.body.decode()
    assert f"/static/app.js?token={client.token}" in html
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere
    assert "default-src 'none'" in page.headers["content-security-policy"]
    script = client.get(f"/static/app.js?token={client.token}")
    assert script.status == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/static/app.js").status == 403
    assert client.get(f"/static/secret.py?token={client.token}").status == 404
    assert client.get(f"/static/../server.py?token={client.token}").status == 404


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "", "localhost.evil:{port}"]
)
def test_a_foreign_host_header_is_refused(client, host):
    """DNS rebinding: a page on another name that resolves to 127.0.0.1 is refused."""
    answer = client.get("/api/info", headers={"Host": host.format(port=client.port)})
    assert answer.status == 403
    assert "host" in answer.json()["error"]


def test_localhost_by_name_is_this_server(client):
    answer = client.get("/api/info", headers={"Host": f"localhost:{client.port}"})
    assert answer.status == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
def test_cross_origin_requests_are_refused(client, headers):
    answer = client.post("/api/correlate", CHAPTER, headers=headers)
    assert answer.status == 403
    assert "cross" in answer.json()["error"]
    assert "access-control-allow-origin" not in answer.headers


def test_same_origin_requests_pass(client):
    answer = client.post(
        "/api/correlate", CHAPTER, headers={"Origin": f"http://127.0.0.1:{client.port}"}
    )
    assert answer.status == 200


# --- bad requests -------------------------------------------------------------------------


def test_oversized_bodies_are_refused_unread_and_the_server_keeps_serving(small_client):
    big = {"kernel": [[0] * 500] * 10}
    answer = small_client.post("/api/correlate", big)
    assert answer.status == 413
    assert "limit is 4,096 bytes" in answer.json()["error"]
    assert small_client.get("/api/info").status == 200


def test_an_oversized_upload_is_refused(small_client):
    answer = small_client.request(
        "POST",
        "/api/image",
        body=b"\0" * 30_000,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert answer.status == 413


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"[1, 2]", "application/json", 400, "JSON object"),
        (b'{"kernel": NaN}', "application/json", 400, "not valid JSON"),
        (b"\xff\xfe", "application/json", 400, "not valid JSON"),
        (b"{}", "text/plain", 415, "JSON"),
        (b"x=1", "application/x-www-form-urlencoded", 415, "JSON"),
    ],
)
def test_malformed_bodies_get_a_reason(client, body, content_type, status, words):
    answer = client.request(
        "POST", "/api/correlate", body=body, headers={"Content-Type": content_type}
    )
    assert answer.status == status
    assert words in answer.json()["error"]
    assert "Traceback" not in answer.body.decode()


def test_deeply_nested_json_is_a_400_not_a_crash(client):
    body = b"[" * 50_000 + b"]" * 50_000
    answer = client.request(
        "POST", "/api/correlate", body=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status == 400
    assert client.get("/api/info").status == 200


def test_a_post_without_content_length_is_refused(client):
    import socket

    with socket.create_connection(("127.0.0.1", client.port), timeout=10) as sock:
        sock.sendall(
            (
                f"POST /api/correlate HTTP/1.1\r\nHost: 127.0.0.1:{client.port}\r\n"
                f"X-Corr2d-Token: {client.token}\r\nContent-Type: application/json\r\n\r\n"
            ).encode()
        )
        reply = sock.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 411")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("PUT", "/api/correlate", 405),
        ("DELETE", "/api/info", 405),
        ("GET", "/api/correlate", 405),
        ("POST", "/api/info", 405),
        ("GET", "/api/nothing", 404),
        ("POST", "/?token={token}", 405),
    ],
)
def test_wrong_methods_and_paths(client, method, path, status):
    answer = client.request(method, path.format(token=client.token), body=b"{}")
    assert answer.status == status


def test_a_bug_is_a_one_line_500_and_the_server_keeps_serving(client, monkeypatch, capsys):
    def broken(body):
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr(client.server.api, "kernel", broken)
    answer = client.post("/api/kernel", {"spec": "box"})
    assert answer.status == 500
    assert answer.json() == {"error": "internal error: RuntimeError: something broke"}
    monkeypatch.undo()
    assert client.post("/api/kernel", {"spec": "box"}).status == 200


# --- /api/correlate -----------------------------------------------------------------------


def test_the_chapter_example(client):
    answer = client.post("/api/correlate", CHAPTER)
    assert answer.status == 200
    body = answer.json()
    assert body["call"] == "corr2d"
    np.testing.assert_array_equal(client.decode(body["output"]), [[19, 25], [37, 43]])
    np.testing.assert_array_equal(client.decode(body["padded"]), np.arange(9.0).reshape(3, 3))
    assert "Y = corr2d.corr2d(X, K)" in body["code"]["corr2d"]


def _scipy_oracle(x, k, op, mode, boundary, fill):
    face = scipy.signal.convolve2d if op == "convolution" else scipy.signal.correlate2d
    return face(x, k, mode=mode, boundary=boundary, fillvalue=fill)


def _torch_oracle(x, k, op, padding, boundary, stride, dilation):
    w = torch.tensor(k[::-1, ::-1].copy() if op == "convolution" else k)[None, None]
    t = torch.tensor(x)[None, None]
    eff = [dilation * (n - 1) + 1 for n in k.shape]
    if padding == "valid":
        pads = (0, 0, 0, 0)
    elif padding == "same":
        pads = (
            (eff[1] - 1) // 2,
            eff[1] - 1 - (eff[1] - 1) // 2,
            (eff[0] - 1) // 2,
            eff[0] - 1 - (eff[0] - 1) // 2,
        )
    elif padding == "full":
        pads = (eff[1] - 1, eff[1] - 1, eff[0] - 1, eff[0] - 1)
    else:
        pads = (padding,) * 4
    mode = {"fill": "constant", "wrap": "circular"}.get(boundary, boundary)
    t = F.pad(t, pads, mode=mode)
    return F.conv2d(t, w, stride=stride, dilation=dilation)[0, 0].numpy()


def _run_code(body: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Run the page's two code snippets; they must reproduce its output."""
    scope: dict[str, Any] = {}
    exec(body["code"]["corr2d"], scope)
    exec(body["code"]["torch"], scope)
    return scope["Y"], scope["y"].numpy()


SCIPY_CASES = list(
    itertools.product(
        ["correlation", "convolution"],
        ["valid", "same", "full"],
        ["fill", "wrap", "symm"],
        [(3, 3), (2, 4), (4, 1)],
    )
)


@pytest.mark.parametrize(("op", "mode", "boundary", "kshape"), SCIPY_CASES)
def test_scipy_face_views_match_scipy_and_their_code(client, rng, op, mode, boundary, kshape):
    x = rng.integers(-5, 6, size=(5, 6)).astype(float)
    k = rng.integers(-3, 4, size=kshape).astype(float)
    fill = 2.5 if boundary == "fill" and mode != "valid" else 0
    request = {
        "input": {"kind": "grid", "cells": x.tolist()},
        "kernel": k.tolist(),
        "operation": op,
        "padding": mode,
        "boundary": boundary,
        "fill": fill,
    }
    body = client.post("/api/correlate", request).json()
    output = client.decode(body["output"])
    np.testing.assert_allclose(output, _scipy_oracle(x, k, op, mode, boundary, fill), atol=1e-12)
    Y, y = _run_code(body)
    np.testing.assert_allclose(Y, output, atol=1e-12)
    np.testing.assert_allclose(y, output, atol=1e-12)
    _check_window_arithmetic(client, body)


def _check_window_arithmetic(client, body):
    """Output (i, j) is the sum over the window the page lights in the padded input."""
    padded = client.decode(body["padded"])
    applied = client.decode(body["applied"])
    output = client.decode(body["output"])
    s, d = body["stride"], body["dilation"]
    kh, kw = applied.shape
    for i, j in itertools.product(range(output.shape[0]), range(output.shape[1])):
        window = padded[i * s : i * s + d * (kh - 1) + 1 : d, j * s : j * s + d * (kw - 1) + 1 : d]
        assert np.isclose(np.sum(window * applied), output[i, j], atol=1e-9)


TORCH_CASES = [
    ("correlation", "valid", "fill", 2, 1),
    ("correlation", 1, "fill", 2, 2),
    ("convolution", 2, "wrap", 1, 2),
    ("correlation", "same", "reflect", 1, 1),
    ("convolution", "full", "replicate", 3, 1),
    ("correlation", "same", "replicate", 1, 2),
    ("correlation", 3, "reflect", 2, 1),
    ("convolution", "valid", "fill", 1, 3),
]


@pytest.mark.parametrize(("op", "padding", "boundary", "stride", "dilation"), TORCH_CASES)
def test_pytorch_face_views_match_torch_and_their_code(
    client, rng, op, padding, boundary, stride, dilation
):
    x = rng.normal(size=(9, 11))
    k = rng.normal(size=(3, 2))
    request = {
        "input": {"kind": "grid", "cells": x.tolist()},
        "kernel": k.tolist(),
        "operation": op,
        "padding": padding,
        "boundary": boundary,
        "stride": stride,
        "dilation": dilation,
    }
    body = client.post("/api/correlate", request).json()
    assert body["call"] == "conv2d"
    output = client.decode(body["output"])
    expected = _torch_oracle(x, k, op, padding, boundary, stride, dilation)
    np.testing.assert_allclose(output, expected, atol=1e-12)
    Y, y = _run_code(body)
    np.testing.assert_allclose(Y, output, atol=1e-12)
    np.testing.assert_allclose(y, output, atol=1e-12)
    _check_window_arithmetic(client, body)


def test_cells_take_the_kernel_grammar(client):
    request = {**CHAPTER, "kernel": [["1/4", " 0.5 "], ["-1e-1", 2]]}
    body = client.post("/api/correlate", request).json()
    np.testing.assert_array_equal(client.decode(body["kernel"]), [[0.25, 0.5], [-0.1, 2]])


@pytest.mark.parametrize(
    ("patch", "field", "cell", "words"),
    [
        ({"kernel": [[0, "abc"], [2, 3]]}, "kernel", [0, 1], "row 1, column 2: 'abc' is not"),
        ({"kernel": [[0, 1], [2, ""]]}, "kernel", [1, 1], "an empty cell is not a number"),
        ({"kernel": [[0, "1/0"], [2, 3]]}, "kernel", [0, 1], "is not a number"),
        ({"kernel": [[0, "inf"], [2, 3]]}, "kernel", [0, 1], "is not a number"),
        (
            {"input": {"kind": "grid", "cells": [[0, 1, 2], [3, "x", 5], [6, 7, 8]]}},
            "input",
            [1, 1],
            "input row 2, column 2",
        ),
    ],
)
def test_a_bad_cell_is_named(client, patch, field, cell, words):
    answer = client.post("/api/correlate", {**CHAPTER, **patch})
    assert answer.status == 400
    body = answer.json()
    assert words in body["error"]
    assert body["field"] == field
    assert body["cell"] == cell


@pytest.mark.parametrize(
    ("patch", "words"),
    [
        ({"kernel": [[1] * 16]}, "the kernel is 1x16; the largest allowed is 15x15"),
        ({"kernel": [[1, 2], [3]]}, "row 2 has 1 cells but row 1 has 2"),
        ({"kernel": []}, "non-empty list of rows"),
        ({"kernel": [[0] * 4] * 4}, "larger than the input"),
        ({"stride": 0}, "`stride` must be in 1..16"),
        ({"stride": 2, "boundary": "symm"}, "boundary 'symm' is SciPy's"),
        ({"dilation": 2, "fill": 1}, "a fill value other than 0"),
        ({"padding": "huge"}, "`padding` must be 'valid', 'same', 'full'"),
        ({"operation": "both"}, "`operation` must be one of"),
        ({"padding": "same", "stride": 2}, "conv2d: `padding`"),
        ({"input": {"kind": "sample", "name": "nope"}}, "`name` must be one of"),
        ({"input": {"kind": "upload", "id": "0123"}}, "upload it again"),
    ],
)
def test_bad_views_get_the_reason(client, patch, words):
    answer = client.post("/api/correlate", {**CHAPTER, **patch})
    assert 400 <= answer.status < 500
    assert words in answer.json()["error"]


def test_a_sample_is_the_photograph_in_grey_block_means(client):
    request = {"input": {"kind": "sample", "name": "grace-hopper", "size": 128}, "kernel": [[1]]}
    body = client.post("/api/correlate", request).json()
    output = client.decode(body["output"])
    scope: dict[str, Any] = {}
    exec(body["code"]["corr2d"], scope)
    np.testing.assert_allclose(output, scope["X"], atol=1e-9)
    assert output.shape == (128, 128)
    assert output.min() >= 0 and output.max() <= 255


def test_a_512_sample_view_is_answered(client):
    request = {
        "input": {"kind": "sample", "name": "grace-hopper", "size": 512},
        "kernel": kernels.SOBEL_DX.tolist(),
        "padding": "same",
        "boundary": "symm",
    }
    body = client.post("/api/correlate", request).json()
    output = client.decode(body["output"])
    assert output.shape == (512, 512)
    assert client.decode(body["padded"]).shape == (514, 514)


# --- /api/image ---------------------------------------------------------------------------


def test_an_uploaded_colour_png_becomes_its_luma(client, rng):
    rgb = rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
    answer = client.request(
        "POST",
        "/api/image",
        body=png_bytes(rgb),
        headers={"Content-Type": "image/png", "X-Corr2d-Filename": "colour%20photo.png"},
    )
    assert answer.status == 200
    upload = answer.json()
    assert upload["shape"] == [12, 10]
    assert upload["channels"] == 3
    assert upload["name"] == "colour photo.png"
    request = {"input": {"kind": "upload", "id": upload["id"]}, "kernel": [[1]]}
    body = client.post("/api/correlate", request).json()
    luma = rgb.astype(float) @ [0.299, 0.587, 0.114]
    np.testing.assert_allclose(client.decode(body["output"]), luma, atol=1e-9)
    assert "read_image('colour photo.png')" in body["code"]["corr2d"]


def test_a_16_bit_upload_keeps_its_values(client):
    ramp = (np.arange(20, dtype=np.uint16).reshape(4, 5) * 3000).astype(np.uint16)
    upload = client.request(
        "POST", "/api/image", body=png_bytes(ramp), headers={"Content-Type": "image/png"}
    ).json()
    body = client.post(
        "/api/correlate", {"input": {"kind": "upload", "id": upload["id"]}, "kernel": [[1]]}
    ).json()
    np.testing.assert_array_equal(client.decode(body["output"]), ramp)


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [(b"not an image at all", 415, "not an image"), (b"", 400, "empty")],
)
def test_a_bad_upload_gets_a_reason(client, data, status, words):
    answer = client.request(
        "POST", "/api/image", body=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert answer.status == status
    body = answer.json()
    assert words in body["error"]
    assert "/tmp" not in body["error"]


def test_a_too_large_image_is_refused(small_client):
    answer = small_client.request(
        "POST",
        "/api/image",
        body=png_bytes(np.zeros((100, 100), dtype=np.uint8)),
        headers={"Content-Type": "image/png"},
    )
    assert answer.status == 413
    assert "too large" in answer.json()["error"]


def test_an_upload_needs_an_image_content_type(client):
    answer = client.request(
        "POST", "/api/image", body=b"abc", headers={"Content-Type": "application/json"}
    )
    assert answer.status == 415


# --- /api/kernel and /api/kernel-file -----------------------------------------------------


def test_kernel_presets_are_the_librarys(client):
    body = client.post("/api/kernel", {"spec": "sobel-dx"}).json()
    np.testing.assert_array_equal(client.decode(body["kernel"]), kernels.SOBEL_DX)
    body = client.post("/api/kernel", {"spec": "gaussian:sigma=1"}).json()
    np.testing.assert_allclose(client.decode(body["kernel"]), kernels.gaussian(sigma=1.0))


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("sobel-dz", "did you mean"),
        ("gaussian:sigma=3", "the page edits kernels up to 15x15"),
        ("kernel.npy", "does not read kernel files"),
        ("", "`spec` must be"),
    ],
)
def test_bad_kernel_specs(client, spec, words):
    answer = client.post("/api/kernel", {"spec": spec})
    assert answer.status == 400
    assert words in answer.json()["error"]


@pytest.mark.parametrize("fmt", ["txt", "csv", "npy"])
def test_a_kernel_file_is_what_filter_reads(client, tmp_path, fmt):
    kernel = [["1/3", "-0.125"], [2, "1e-7"]]
    answer = client.post("/api/kernel-file", {"kernel": kernel, "format": fmt, "name": "mine"})
    assert answer.status == 200
    assert answer.headers["content-disposition"] == f'attachment; filename="mine.{fmt}"'
    path = tmp_path / f"mine.{fmt}"
    path.write_bytes(answer.body)
    np.testing.assert_array_equal(read_kernel(path), [[1 / 3, -0.125], [2, 1e-7]])

    from corr2d.cli import main
    from corr2d.io import read_image, write_image

    image = np.arange(30, dtype=np.uint8).reshape(5, 6)
    write_image(tmp_path / "in.png", image)
    out = tmp_path / "out.tif"
    assert main(["filter", str(tmp_path / "in.png"), str(out), "--kernel", str(path)]) == 0
    assert read_image(out).shape == (5, 6)


def test_a_kernel_file_with_a_bad_cell(client):
    answer = client.post("/api/kernel-file", {"kernel": [[1, "one"]]})
    assert answer.status == 400
    assert answer.json()["cell"] == [0, 1]


# --- /api/rf -----------------------------------------------------------------------------


def _brute_force_field(layers, shape, unit):
    """Input pixels that change the unit when nudged, with every kernel all ones (torch)."""
    specs = receptive_field(layers, shape).layers

    def forward(x):
        t = torch.tensor(x)[None, None]
        for spec in specs:
            (top, bottom), (left, right) = spec.padding
            t = F.pad(t, (left, right, top, bottom))
            w = torch.ones((1, 1, *spec.kernel_size), dtype=t.dtype)
            t = F.conv2d(t, w, stride=spec.stride, dilation=spec.dilation)
        return t[0, 0].numpy()

    base = forward(np.zeros(shape))
    mask = np.zeros(shape, dtype=bool)
    for i, j in itertools.product(range(shape[0]), range(shape[1])):
        x = np.zeros(shape)
        x[i, j] = 1.0
        mask[i, j] = forward(x)[unit] != base[unit]
    return mask


@pytest.mark.parametrize(
    ("layers", "shape", "layer", "unit"),
    [
        (["3x3", "3x3/d2", "3x3/d4"], (24, 24), 3, (4, 5)),
        (["3x3/d2"], (9, 9), 1, (2, 3)),
        (["2x2", "2x2"], (3, 3), 2, (0, 0)),
        (["7x7/s2/p3", "pool3x3/s2/p1", "3x3"], (20, 18), 2, (1, 0)),
    ],
)
def test_receptive_fields_match_the_arithmetic_and_brute_force(client, layers, shape, layer, unit):
    request = {
        "layers": layers,
        "input": {"rows": shape[0], "cols": shape[1]},
        "unit": {"layer": layer, "row": unit[0], "col": unit[1]},
    }
    answer = client.post("/api/rf", request)
    assert answer.status == 200
    body = answer.json()
    field = receptive_field(layers, shape)
    assert [row["size"] for row in body["rows"]] == [list(r.size) for r in field.rows]
    assert [row["jump"] for row in body["rows"]] == [list(r.jump) for r in field.rows]
    window = receptive_field(layers[:layer], shape).to_input(*unit)
    assert body["unit"]["rows"] == list(window.rows)
    assert body["unit"]["cols"] == list(window.cols)
    mask = client.decode(body["unit"]["empirical"]).astype(bool)
    np.testing.assert_array_equal(mask, _brute_force_field(layers[:layer], shape, unit))
    assert body["unit"]["read"] == mask.sum()
    assert body["command"].startswith("corr2d rf ")


def test_layers_can_be_sent_as_fields(client):
    request = {
        "layers": [
            {"kind": "conv", "kernel": 3, "dilation": 2},
            {"kind": "pool", "kernel": 2},
            {"kind": "conv", "kernel": 3, "stride": 2, "padding": 1},
        ],
        "input": {"rows": 20, "cols": 20},
    }
    body = client.post("/api/rf", request).json()
    assert body["layers"] == ["3x3/d2", "pool2x2", "3x3/s2/p1"]


@pytest.mark.parametrize(
    ("request_patch", "words"),
    [
        ({"layers": ["3x3", "9x9"], "input": {"rows": 8, "cols": 8}}, "no wider"),
        ({"layers": ["3x3", "hello"]}, "layer 2 ('hello'): parse_layer"),
        ({"layers": []}, "non-empty"),
        ({"layers": ["3x3"] * 13}, "up to 12"),
        ({"layers": ["3x3"], "input": {"rows": 65, "cols": 8}}, "`rows` must be in 1..64"),
        ({"layers": ["3x3"], "unit": {"layer": 1, "row": 99}}, "`row` must be in 0.."),
        ({"layers": [{"kind": "conv", "kernel": 40}]}, "layer 1: `kernel`"),
    ],
)
def test_bad_stacks_get_the_reason(client, request_patch, words):
    answer = client.post("/api/rf", {"input": {"rows": 16, "cols": 16}, **request_patch})
    assert answer.status == 400
    assert words in answer.json()["error"]


# --- /api/train ---------------------------------------------------------------------------


def _wait(client, run_id, states, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/train/{run_id}").json()
        if body["state"] in states:
            return body
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} never reached {states}: {body}")


CHAPTER_RUN = {"data": {"kind": "chapter"}, "target": [[1, -1]], "rate": 0}


def test_training_from_the_chapters_start_reproduces_its_losses(client):
    answer = client.post("/api/train", {**CHAPTER_RUN, "steps": 10})
    assert answer.status == 200
    started = answer.json()
    np.testing.assert_allclose(client.decode(started["exact"]["kernel"]), [[1, -1]], atol=1e-12)
    assert started["exact"]["identifiable"] is True
    X = client.decode(started["X"])
    assert X.shape == (6, 8) and X[:, 2:6].sum() == 0
    done = _wait(client, started["id"], {"done"})
    assert done["step"] == 10
    # the chapter prints batches 2, 4, ..., 10: loss 4.949, 0.831, 0.140, 0.024, 0.004
    np.testing.assert_allclose(done["losses"][1::2], [4.949, 0.831, 0.140, 0.024, 0.004], atol=6e-4)
    kernel = client.decode(done["kernel"])
    np.testing.assert_allclose(kernel, [[0.9895, -0.9874]], atol=1e-4)
    assert done["distance"] == pytest.approx(np.linalg.norm(kernel - [[1, -1]]), abs=1e-12)
    client.post(f"/api/train/{started['id']}/end", {})


def test_stop_resume_and_end(client):
    run = client.post("/api/train", {**CHAPTER_RUN, "rate": 20, "steps": 1000}).json()
    run_id = run["id"]
    time.sleep(0.3)
    stopped = client.post(f"/api/train/{run_id}/stop", {}).json()
    assert stopped["state"] == "paused"
    step = stopped["step"]  # the stop answers once the step in progress is recorded
    assert client.get(f"/api/train/{run_id}").json()["step"] == step
    time.sleep(0.3)
    assert client.get(f"/api/train/{run_id}").json()["step"] == step
    assert 0 < step < 1000
    resumed = client.post(f"/api/train/{run_id}/resume", {"steps": 5}).json()
    assert resumed["state"] == "running"
    assert resumed["target"] == step + 5
    done = _wait(client, run_id, {"done"})
    assert done["step"] == step + 5
    later = client.get(f"/api/train/{run_id}?since={step}").json()
    assert later["since"] == step and len(later["losses"]) == 5
    assert client.post(f"/api/train/{run_id}/end", {}).status == 200
    gone = client.get(f"/api/train/{run_id}")
    assert gone.status == 404
    assert "start again" in gone.json()["error"]


def test_adam_with_a_bias_learns_a_3x3_kernel_on_a_sample(client):
    target = kernels.SOBEL_DY.tolist()
    request = {
        "data": {"kind": "sample", "name": "grace-hopper", "size": 32},
        "target": target,
        "init": "zeros",
        "optimizer": "adam",
        "lr": 0.05,
        "loss": "mean_squared",
        "bias": True,
        "steps": 300,
        "rate": 0,
    }
    started = client.post("/api/train", request).json()
    np.testing.assert_allclose(client.decode(started["exact"]["kernel"]), target, atol=1e-9)
    assert started["exact"]["bias"] == pytest.approx(0, abs=1e-9)
    done = _wait(client, started["id"], {"done"})
    assert done["losses"][-1] < done["losses"][0] / 100
    client.post(f"/api/train/{started['id']}/end", {})


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverging_run_says_so(client):
    run = client.post("/api/train", {**CHAPTER_RUN, "lr": 50, "steps": 500}).json()
    body = _wait(client, run["id"], {"diverged"})
    assert "lower the learning rate" in body["message"]
    assert body["losses"][-1] is None  # inf is sent as null
    answer = client.post(f"/api/train/{run['id']}/resume", {})
    assert answer.status == 409
    client.post(f"/api/train/{run['id']}/end", {})


def test_training_on_an_uploaded_pair(client, rng):
    x = rng.integers(0, 256, size=(20, 24), dtype=np.uint8)
    k = np.array([[0.5, 0.0, -0.5], [1.0, 0.25, 0.0]])
    y = scipy.signal.correlate2d(x.astype(float), k, mode="valid")
    ids = []
    for image in (x, None):
        if image is None:
            buffer = io.BytesIO()
            import tifffile

            tifffile.imwrite(buffer, y.astype(np.float64))
            data = buffer.getvalue()
        else:
            data = png_bytes(image)
        answer = client.request(
            "POST", "/api/image", body=data, headers={"Content-Type": "application/octet-stream"}
        )
        assert answer.status == 200, answer.body
        ids.append(answer.json()["id"])
    request = {
        "data": {"kind": "pair", "x": ids[0], "y": ids[1]},
        "kernel_shape": {"rows": 2, "cols": 3},
        "init": "zeros",
        "lr": 1e-7,
        "start": False,
    }
    body = client.post("/api/train", request).json()
    np.testing.assert_allclose(client.decode(body["exact"]["kernel"]), k, atol=1e-9)
    assert body["run"]["state"] == "paused" and body["run"]["step"] == 0
    client.post(f"/api/train/{body['id']}/end", {})


@pytest.mark.parametrize(
    ("patch", "words"),
    [
        ({"init": "chapter", "target": [[1, 0, -1]]}, "the chapter's start is a 1x2 kernel"),
        ({"target": [[1, "a"]]}, "target kernel row 1, column 2"),
        ({"target": [[1] * 9]}, "larger than the image"),
        ({"lr": -1}, "`lr` must be > 0"),
        ({"lr": "fast"}, "is not a number"),
        ({"steps": 10**9}, "`steps` must be in 1..100000"),
        ({"optimizer": "lbfgs"}, "`optimizer` must be one of"),
        ({"data": {"kind": "pair", "x": "nope", "y": "nope"}}, "upload it again"),
    ],
)
def test_bad_training_requests(client, patch, words):
    answer = client.post("/api/train", {**CHAPTER_RUN, **patch})
    assert 400 <= answer.status < 500
    assert words in answer.json()["error"]


def test_a_training_image_too_large_is_refused(client):
    request = {
        "data": {"kind": "sample", "name": "grace-hopper", "size": 512},
        "target": [[1, -1]],
    }
    answer = client.post("/api/train", request)
    assert answer.status == 413
    assert "65,536 pixels" in answer.json()["error"]


def test_abandoned_runs_are_ended_and_live_runs_are_limited(small_client):
    first = small_client.post("/api/train", {**CHAPTER_RUN, "rate": 5, "steps": 10_000}).json()
    second = small_client.post("/api/train", {**CHAPTER_RUN, "rate": 5, "steps": 10_000}).json()
    third = small_client.post("/api/train", CHAPTER_RUN)
    assert third.status == 429
    assert "2 training runs are live" in third.json()["error"]
    # keep the second alive by polling; the first (abandon_after 0.4 s) is abandoned
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert small_client.get(f"/api/train/{second['id']}").status == 200
        time.sleep(0.1)
    assert small_client.get(f"/api/train/{first['id']}").status == 404
    assert small_client.get(f"/api/train/{second['id']}").json()["state"] == "running"
    assert small_client.post("/api/train", CHAPTER_RUN).status == 200


def test_unknown_runs_and_actions(client):
    assert client.get("/api/train/0000").status == 404
    assert client.post("/api/train/0000/stop", {}).status == 404
    run = client.post("/api/train", {**CHAPTER_RUN, "start": False}).json()
    assert client.post(f"/api/train/{run['id']}/jump", {}).status == 404
    assert client.get(f"/api/train/{run['id']}?since=-1").status == 400
    client.post(f"/api/train/{run['id']}/end", {})


def test_closing_the_server_ends_its_runs():
    from corr2d.explore import create_server

    server = create_server()
    try:
        api = server.api
        import corr2d.explore.api as api_module

        X = api_module.chapter_edge_image()
        from corr2d.explore.training import TrainingSettings

        run = api.runs.create(X, X[:, :-1] - X[:, 1:], (1, 2), TrainingSettings(rate=5))
        run.resume(10_000)
    finally:
        server.close()
    assert run.state == "ended"
    assert run.message == "the server stopped"
    assert json.dumps(run.snapshot())  # still readable
