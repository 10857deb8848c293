"""A local HTTP server standing in for the Hugging Face hub, for tests that must not touch the network.

It serves model and dataset repos from a folder (ROOT/models/<org>/<name>/..., ROOT/datasets/<org>/<name>/...),
one commit per repo, through the endpoints huggingface_hub (0.26 - 2.x), transformers and datasets call:

    GET  /api/models/<id>[/revision/<rev>]          model info: id, sha, siblings, gated, ...
    GET  /api/datasets/<id>[/revision/<rev>]        dataset info
    GET  /api/{models,datasets}/<id>/tree/<rev>[/<path>]?recursive=&expand=   file listing
    POST /api/{models,datasets}/<id>/paths-info/<rev>                           entries for paths=...
    HEAD|GET /<id>/resolve/<rev>/<file>             a model file
    HEAD|GET /datasets/<id>/resolve/<rev>/<file>    a dataset file

File responses carry what huggingface_hub reads (file_download.get_hf_file_metadata): ETag (the git blob
sha1, or the sha256 of an LFS file such as *.safetensors, with X-Linked-Etag / X-Linked-Size as the hub sends
them), X-Repo-Commit (the commit the revision names), Content-Length, Accept-Ranges and Range support.
Errors carry the hub's X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo), which
huggingface_hub turns into RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError, GatedRepoError.
A gated repo answers 401 GatedRepo to requests without an `Authorization: Bearer <token>` header.

Observed against the framework envs (Axolotl 0.19.0: huggingface_hub 1.17.0, transformers 5.16.1, datasets
4.8.4; LLaMA-Factory 0.9.5: huggingface_hub 1.33.0, transformers 5.6.0, datasets 4.0.0), loading a model,
its tokenizer and a hub dataset:
    datasets: GET /api/datasets/<id>, /revision/<sha>, tree/<sha>?recursive=false and tree/<sha>/data
              (404 EntryNotFound when absent), HEAD resolve/<sha>/{README.md,.huggingface.yaml,<name>.py,
              dataset_infos.json} (404s), HEAD + GET resolve/<sha>/train.jsonl
    transformers: HEAD resolve/main/{config.json,adapter_config.json,tokenizer_config.json,tokenizer.json,
              special_tokens_map.json,added_tokens.json,tokenizer.model,chat_template.jinja,
              generation_config.json}, GET of those present and of model.safetensors,
              GET /api/models/<id>/tree/main?recursive=true and tree/main/additional_chat_templates (404)
    huggingface_hub 1.33 also GETs /api/agent-harnesses (404 here).
ftgen itself asks GET /api/models/<id> (the commit, the canonical id, gated) and config.json at that commit.

Set HF_ENDPOINT to `server.url` before huggingface_hub is imported in a process that should use it (ftgen reads
HF_ENDPOINT at call time; a framework subprocess gets it in its environment). Every request is recorded in
`server.requests` as (method, path, status).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".parquet", ".gguf")
_DATE = "2026-01-01T00:00:00.000Z"


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    kind: str  # model | dataset
    id: str
    folder: Path
    gated: bool = False
    files: dict[str, bytes] = field(default_factory=dict)

    def load(self) -> Repo:
        self.files = {
            p.relative_to(self.folder).as_posix(): p.read_bytes() for p in sorted(self.folder.rglob("*")) if p.is_file()
        }
        return self

    @property
    def sha(self) -> str:
        digest = hashlib.sha1()
        for name, data in sorted(self.files.items()):
            digest.update(name.encode() + b"\0" + _git_blob_sha1(data).encode() + b"\n")
        return digest.hexdigest()

    def entry(self, path: str) -> dict:
        data = self.files[path]
        out = {"type": "file", "oid": _git_blob_sha1(data), "size": len(data), "path": path}
        if path.endswith(LFS_SUFFIXES):
            out["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return out

    def dirs(self) -> set[str]:
        out = set()
        for name in self.files:
            parts = name.split("/")[:-1]
            out.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return out

    def info(self) -> dict:
        siblings = [{"rfilename": name} for name in sorted(self.files)]
        data = {
            "_id": self.sha[:24],
            "id": self.id,
            "author": self.id.split("/")[0] if "/" in self.id else None,
            "sha": self.sha,
            "lastModified": _DATE,
            "createdAt": _DATE,
            "private": False,
            "gated": "manual" if self.gated else False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "cardData": {},
        }
        if self.kind == "model":
            data.update(modelId=self.id, library_name="transformers", pipeline_tag="text-generation")
        return data


class FakeHub:
    """The server; use as a context manager. `root` holds models/<org>/<name>/ and datasets/<org>/<name>/."""

    def __init__(self, root: Path, gated: tuple[str, ...] = (), token: str = "hf_fake_token"):
        self.root, self.gated, self.token = Path(root), set(gated), token
        self.requests: list[tuple[str, str, int]] = []
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ repos

    def repo(self, kind: str, repo_id: str) -> Repo | None:
        folder = self.root / ("models" if kind == "model" else "datasets") / repo_id
        if not folder.is_dir() or ".." in repo_id.split("/"):
            return None
        return Repo(kind, repo_id, folder, repo_id in self.gated).load()

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            fake = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "use FakeHub as a context manager"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def paths(self, method: str | None = None) -> list[str]:
        return [p for m, p, _ in self.requests if method is None or m == method]


_API = re.compile(r"^/api/(models|datasets)/(.+?)(?:/(revision|tree|paths-info)/(.*))?$")
_RESOLVE = re.compile(r"^/(datasets/)?(.+?)/resolve/([^/]+)/(.+)$")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet; requests are recorded instead
        return

    # ------------------------------------------------------------------ helpers

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
        self.fake.requests.append((self.command, self.path, status))
        self.send_response(status)
        headers = {"Content-Length": str(len(body)), **(headers or {})}
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _json(self, status: int, data, head: bool = False, headers: dict | None = None) -> None:
        self._send(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})}, head)

    def _error(self, status: int, code: str, message: str, head: bool = False) -> None:
        self._json(status, {"error": message}, head, {"X-Error-Code": code, "X-Error-Message": message})

    def _authorized(self, repo: Repo) -> bool:
        return not repo.gated or self.headers.get("Authorization") == f"Bearer {self.fake.token}"

    def _revision(self, repo: Repo, rev: str) -> bool:
        return unquote(rev) in ("main", repo.sha)

    # ------------------------------------------------------------------ verbs

    def do_HEAD(self):
        self._route(head=True)

    def do_GET(self):
        self._route(head=False)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self._route(head=False, body=body)

    def _route(self, head: bool, body: str = "") -> None:
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)  # matched before unquoting: a revision may hold %2F
        m = _API.match(path)
        if m:
            kind, repo_id, what, rest = m.group(1)[:-1], unquote(m.group(2)), m.group(3), m.group(4)
            return self._api(kind, repo_id, what, rest, query, body, head)
        m = _RESOLVE.match(path)
        if m:
            kind = "dataset" if m.group(1) else "model"
            return self._file(kind, unquote(m.group(2)), unquote(m.group(3)), unquote(m.group(4)), head)
        self._error(404, "EntryNotFound", f"no route for {path}", head)

    def _api(self, kind: str, repo_id: str, what: str | None, rest: str | None, query, body: str, head: bool):
        repo = self.fake.repo(kind, repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound", f"Repository not found: {repo_id}", head)
        if what in (None, "revision"):
            if what == "revision" and not self._revision(repo, rest or ""):
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {rest}", head)
            return self._json(200, repo.info(), head)
        rev, _, sub = (rest or "").partition("/")
        rev, sub = unquote(rev), unquote(sub)
        if not self._revision(repo, rev):
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
        if what == "paths-info":
            form = parse_qs(body)
            try:
                wanted = form.get("paths") or json.loads(body or "{}").get("paths", [])
            except ValueError:
                wanted = []
            out = [repo.entry(p) for p in wanted if p in repo.files]
            out += [{"type": "directory", "oid": repo.sha, "size": 0, "path": p} for p in wanted if p in repo.dirs()]
            return self._json(200, out, head)
        # tree
        sub = sub.strip("/")
        if sub and sub not in repo.dirs():
            if sub in repo.files:
                return self._json(200, [repo.entry(sub)], head)
            return self._error(404, "EntryNotFound", f"{sub} does not exist on {rev}", head)
        recursive = (query.get("recursive") or ["false"])[0].lower() in ("1", "true")
        prefix = sub + "/" if sub else ""
        entries = []
        for name in sorted(repo.files):
            if name.startswith(prefix) and (recursive or "/" not in name[len(prefix) :]):
                entries.append(repo.entry(name))
        for d in sorted(repo.dirs()):
            if d.startswith(prefix) and (recursive or "/" not in d[len(prefix) :]):
                entries.append({"type": "directory", "oid": repo.sha, "size": 0, "path": d})
        return self._json(200, entries, head)

    def _file(self, kind: str, repo_id: str, rev: str, name: str, head: bool) -> None:
        repo = self.fake.repo(kind, repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound", f"Repository not found: {repo_id}", head)
        if not self._authorized(repo):
            return self._error(401, "GatedRepo", f"Access to model {repo_id} is restricted.", head)
        if not self._revision(repo, rev):
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
        if name not in repo.files:
            return self._error(404, "EntryNotFound", f"{name} does not exist on {rev}", head)
        data = repo.files[name]
        entry = repo.entry(name)
        etag = entry["lfs"]["oid"] if "lfs" in entry else entry["oid"]
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": repo.sha, "Accept-Ranges": "bytes"}
        if "lfs" in entry:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
        status = 200
        rng = self.headers.get("Range")
        m = re.match(r"bytes=(\d+)-(\d*)$", rng or "")
        if m:
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else len(data) - 1
            if start >= len(data):
                return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"}, head)
            data = data[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{start + len(data) - 1}/{len(repo.files[name])}"
            status = 206
        headers["Content-Type"] = "application/octet-stream"
        self._send(status, data, headers, head)


def main(argv: list[str]) -> None:  # pragma: no cover - manual use: python tests/_fake_hub.py ROOT
    import time

    with FakeHub(Path(argv[0])) as hub:
        print(hub.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
