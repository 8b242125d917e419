"""The dev server: cross-origin isolation headers, and nothing outside the web root."""
import http.client

import pytest

from tools.server import start_background


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text("<p>hi</p>")
    (root / "m.wasm").write_bytes(b"\0asm")
    (tmp_path / "secret.txt").write_text("do not serve")
    srv, base = start_background(root)
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    return r.status, dict(r.getheaders()), r.read()


def test_isolation_headers_and_types(server):
    status, headers, body = get(server, "/index.html")
    assert status == 200 and body == b"<p>hi</p>"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    assert get(server, "/m.wasm")[1]["Content-type"] == "application/wasm"


@pytest.mark.parametrize("path", ["/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/a/../../secret.txt",
                                  "/%2e%2e%2f%2e%2e%2fetc/passwd", "/....//secret.txt", "//etc/passwd"])
def test_path_traversal_is_refused(server, path):
    status, _, body = get(server, path)
    assert status in (403, 404)
    assert b"do not serve" not in body and b"root:" not in body


def test_no_directory_listing(server, tmp_path):
    (tmp_path / "www" / "models").mkdir()
    (tmp_path / "www" / "models" / "a.json").write_text("{}")
    status, _, body = get(server, "/models/")          # a folder without index.html
    assert status in (403, 404) and b"a.json" not in body


def test_serve_on_a_busy_port_says_so_in_one_line(server, tmp_path):
    from tools.server import serve_forever
    with pytest.raises(SystemExit) as e:
        serve_forever(tmp_path / "www", "127.0.0.1", server)
    assert "cannot serve on 127.0.0.1" in str(e.value) and "--port" in str(e.value)


def test_e2e_refuses_a_dist_older_than_its_sources(tmp_path, monkeypatch):
    import os

    import e2e.conftest as conf
    (tmp_path / "py" / "webtensor").mkdir(parents=True)
    src = tmp_path / "py" / "webtensor" / "model.py"
    src.write_text("x = 1")
    stamp = tmp_path / "webtensor-build.json"
    stamp.write_text("{}")
    monkeypatch.setattr(conf, "ROOT", tmp_path)
    os.utime(src, (stamp.stat().st_mtime - 10,) * 2)
    assert conf.stale_sources(stamp) == []
    os.utime(src, (stamp.stat().st_mtime + 10,) * 2)          # edited after the build
    assert conf.stale_sources(stamp) == ["py/webtensor/model.py"]
