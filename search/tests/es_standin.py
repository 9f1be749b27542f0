"""A tiny local HTTP stand-in for Elasticsearch, on a loopback port, for tests without a cluster.

It keeps indices, aliases and documents, answers the few APIs the mirror uses with the shapes
Elasticsearch answers them, and records every request. It does not evaluate queries: a search
returns the index's documents newest first, so tests can tell whose answer they are reading.
"""

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


@dataclass
class Recorded:
    method: str
    path: str
    params: dict
    body: object


@dataclass
class StandIn:
    url: str = ""
    indices: dict[str, dict] = field(default_factory=dict)  # name -> {"docs", "mappings", "settings"}
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> index
    requests: list[Recorded] = field(default_factory=list)
    health: str = "green"
    fail_ids: set[str] = field(default_factory=set)  # bulk items refused with a mapping error
    read_status: int = 200  # searches and document reads answer this status when not 200
    shards_failed: int = 0  # searches report this many failed shards
    read_delay: float = 0.0  # seconds before searches and document reads answer

    def docs(self, alias: str) -> dict[str, dict]:
        return self.indices[self.aliases[alias]]["docs"]

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]


def _error(status: int, kind: str, reason: str) -> tuple[int, dict]:
    return status, {"error": {"type": kind, "reason": reason}, "status": status}


class _Handler(BaseHTTPRequestHandler):
    state: StandIn

    def log_message(self, *args):
        pass

    def _body(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if not raw:
            return None
        if "_bulk" in self.path:
            return [json.loads(line) for line in raw.splitlines() if line.strip()]
        return json.loads(raw)

    def _answer(self, status: int, payload: dict | None):
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _serve(self):
        url = urlparse(self.path)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = self._body()
        self.state.requests.append(Recorded(self.command, url.path, params, body))
        self._answer(*self._route(self.command, url.path.strip("/").split("/"), params, body))

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

    def _route(self, method, parts, params, body):  # noqa: C901 - one branch per API
        s = self.state
        if parts == ["_cluster", "health"]:
            return 200, {"cluster_name": "standin", "status": s.health}
        if parts[0] == "_alias":
            if parts[1] not in s.aliases:
                return _error(404, "aliases_not_found_exception", f"alias [{parts[1]}] missing")
            return 200, {s.aliases[parts[1]]: {"aliases": {parts[1]: {}}}}
        if parts == ["_aliases"]:
            for action in body["actions"]:
                ((verb, spec),) = action.items()
                if verb == "add":
                    s.aliases[spec["alias"]] = spec["index"]
                elif verb == "remove_index":
                    del s.indices[spec["index"]]
            return 200, {"acknowledged": True}
        name = parts[0]
        if len(parts) == 1 and method == "PUT":
            if name in s.indices:
                return _error(400, "resource_already_exists_exception", f"index [{name}] already exists")
            s.indices[name] = {"docs": {}, "mappings": body["mappings"], "settings": body["settings"]}
            for alias in body.get("aliases") or {}:
                s.aliases[alias] = name
            return 200, {"acknowledged": True, "index": name}
        if len(parts) == 1 and method == "DELETE":
            if name not in s.indices:
                if params.get("ignore_unavailable") == "true":
                    return 200, {"acknowledged": True}
                return _error(404, "index_not_found_exception", f"no such index [{name}]")
            s.indices.pop(name)
            for alias in [a for a, index in s.aliases.items() if index == name]:
                del s.aliases[alias]  # as in Elasticsearch: an index's aliases go with it
            return 200, {"acknowledged": True}
        index = s.aliases.get(name, name)
        if parts[1:] == ["_bulk"]:
            return 200, self._bulk(name, params, body)
        if index not in s.indices:
            return _error(404, "index_not_found_exception", f"no such index [{name}]")
        docs = s.indices[index]["docs"]
        if parts[1:] == ["_refresh"]:
            return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
        if parts[1] in ("_doc", "_search"):
            time.sleep(s.read_delay)
        if s.read_status != 200 and parts[1] in ("_doc", "_search"):
            return _error(s.read_status, "search_phase_execution_exception", "stand-in told to fail")
        if parts[1] == "_doc":
            if parts[2] not in docs:
                return 404, {"_index": index, "_id": parts[2], "found": False}
            return 200, {"_index": index, "_id": parts[2], "found": True, "_source": docs[parts[2]]}
        if parts[1:] == ["_search"]:
            newest = sorted(docs.values(), key=lambda d: (d["occurred_at"], d["id"]), reverse=True)
            hits = [{"_id": d["id"], "_source": d} for d in newest[: body["size"]]]
            shards = {"total": 1, "failed": s.shards_failed}
            return 200, {"timed_out": False, "_shards": shards, "hits": {"hits": hits}}
        return _error(400, "illegal_argument_exception", f"the stand-in does not serve {method} {parts}")

    def _bulk(self, target, params, lines):
        s, items = self.state, []
        for action, source in zip(lines[::2], lines[1::2], strict=True):
            doc_id = action["index"]["_id"]
            if params.get("require_alias") == "true" and target not in s.aliases:
                status, error = _error(404, "index_not_found_exception", f"[{target}] is not an alias")
                items.append({"index": {"_index": target, "_id": doc_id, "status": status, "error": error["error"]}})
            elif doc_id in s.fail_ids:
                error = {"type": "document_parsing_exception", "reason": "failed to parse field [ip]"}
                items.append({"index": {"_index": target, "_id": doc_id, "status": 400, "error": error}})
            else:
                index = s.aliases.get(target, target)
                docs = s.indices.setdefault(index, {"docs": {}, "mappings": None, "settings": None})["docs"]
                result = "updated" if doc_id in docs else "created"
                docs[doc_id] = source
                items.append({"index": {"_index": index, "_id": doc_id, "status": 200, "result": result}})
        return {"errors": any("error" in i["index"] for i in items), "items": items}


def standin_start() -> tuple[StandIn, ThreadingHTTPServer]:
    state = StandIn()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.handle_error = lambda request, address: None  # a client that gave up waiting: nothing to report
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state, server
