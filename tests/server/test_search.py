"""Black-box tests of the vector-search API of `omega serve` over real HTTP: every endpoint
and error status, text upsert and search through the engine, /invoke search with HMAC,
metrics, persistence across restarts, acknowledged writes surviving `kill -9`, a damaged
collection stopping the start-up (OMEGA_INDEX_ACCEPT_LOSS to accept the loss), and vectors
past the norm bound refused.

  OMEGA_BIN=build/omega OMEGA_GENMODEL=build/omega-genmodel python3 tests/server/test_search.py
"""
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from omega_test_server import OMEGA, Server, run_threads, sign, small_model  # noqa: E402

SECRET = "search-secret-0123456789"
DIM = 64  # the generated model's embedding dimension


def vec_for(i, dim=8):
    """A distinct vector per integer id, so an exact search for it finds it first."""
    return [math.sin(i * 0.37 + k) * (1 + (i % 7)) + k * 0.01 for k in range(dim)]


class SearchApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = tempfile.mkdtemp(prefix="omega-search-data-")
        cls.s = Server(env={"OMEGA_DATA_DIR": cls.data, "OMEGA_HMAC_SECRET": SECRET, "OMEGA_SEARCH_MAX_K": "50",
                            "OMEGA_SEARCH_MAX_BATCH": "4", "OMEGA_MAX_INPUTS": "16",
                            "OMEGA_MAX_BODY_BYTES": "262144"})

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0
        shutil.rmtree(cls.data, ignore_errors=True)

    def ok(self, method, path, body=None, status=200):
        r = self.s.request(method, path, body)
        self.assertEqual(r.status, status, f"{method} {path} {body!r}: {r.body!r}")
        return r.json()

    def expect(self, method, path, body, status, error_type=None, contains=None, **kw):
        r = self.s.request(method, path, body, **kw)
        self.assertEqual(r.status, status, f"{method} {path} {body!r}: {r.body!r}")
        d = r.json()
        self.assertIsInstance(d["error"], str)
        if error_type:
            self.assertEqual(d["error_type"], error_type)
        if contains:
            self.assertIn(contains, d["error"])
        return r

    def create(self, name, **kw):
        body = {"name": name, "dim": 8, "metric": "l2", "kind": "flat"}
        body.update(kw)
        return self.ok("POST", "/collections", body, 201)

    def search(self, name, body):
        return self.ok("POST", f"/collections/{name}/search", body)["results"]

    def test_collection_lifecycle(self):
        d = self.create("life", kind="hnsw", m=8, ef_construction=64, ef_search=32, metric="ip")
        self.assertEqual((d["name"], d["dim"], d["metric"], d["kind"]), ("life", 8, "ip", "hnsw"))
        self.assertEqual((d["m"], d["ef_construction"], d["ef_search"]), (8, 64, 32))
        self.assertEqual(d["count"], 0)
        self.assertTrue(d["persistent"])
        self.assertTrue(os.path.isfile(os.path.join(self.data, "collections", "life", "snapshot.omg")))
        self.expect("POST", "/collections", {"name": "life", "dim": 8}, 409, "conflict", "already exists")
        names = [c["name"] for c in self.ok("GET", "/collections")["collections"]]
        self.assertIn("life", names)
        self.assertEqual(names, sorted(names))
        self.ok("POST", "/collections/life/upsert", {"points": [{"id": i, "vector": vec_for(i)} for i in range(10)]})
        d = self.ok("GET", "/collections/life")
        for key in ("count", "slots", "deleted", "bytes", "wal_bytes", "snapshots", "last_snapshot_ms",
                    "memory_limit_bytes"):
            self.assertIn(key, d)
        self.assertEqual(d["count"], 10)
        self.assertGreater(d["bytes"], 0)
        self.assertGreater(d["wal_bytes"], 0)
        self.assertEqual(self.ok("POST", "/collections/life/delete", {"ids": [1, 2, 99]})["deleted"], 2)
        d = self.ok("GET", "/collections/life")
        self.assertEqual((d["count"], d["deleted"]), (8, 2))
        before = d["snapshots"]
        d = self.ok("POST", "/collections/life/compact")
        self.assertEqual((d["count"], d["deleted"], d["slots"]), (8, 0, 8))
        d = self.ok("POST", "/collections/life/snapshot")
        self.assertGreaterEqual(d["snapshots"], before + 2)
        self.assertEqual(self.ok("DELETE", "/collections/life"), {"dropped": "life"})
        self.assertFalse(os.path.exists(os.path.join(self.data, "collections", "life")))
        self.expect("GET", "/collections/life", None, 404, "not_found")
        self.expect("DELETE", "/collections/life", None, 404, "not_found")
        # the name is free again, with other parameters
        self.assertEqual(self.create("life", dim=3)["dim"], 3)
        self.ok("DELETE", "/collections/life")

    def test_vectors_exact_results(self):
        self.create("exact")
        pts = [{"id": i, "vector": vec_for(i)} for i in range(12)] + [{"id": "doc-a", "vector": vec_for(100)}]
        self.assertEqual(self.ok("POST", "/collections/exact/upsert", {"points": pts}), {"upserted": 13})
        res = self.search("exact", {"vector": vec_for(5), "k": 3})
        self.assertEqual(len(res), 1)
        self.assertEqual(res[0][0], {"id": 5, "score": 0})
        # the same order as a brute force in Python (squared L2)
        allv = {p["id"]: p["vector"] for p in pts}
        q = [x + 0.1 for x in vec_for(3)]
        want = sorted(allv, key=lambda i: sum((a - b) ** 2 for a, b in zip(allv[i], q)))[:5]
        got = self.search("exact", {"vector": q, "k": 5})[0]
        self.assertEqual([h["id"] for h in got], want)
        self.assertEqual(self.search("exact", {"vector": vec_for(100), "k": 1})[0][0]["id"], "doc-a")
        # upsert replaces
        self.ok("POST", "/collections/exact/upsert", {"points": [{"id": 5, "vector": vec_for(500)}]})
        self.assertEqual(self.ok("GET", "/collections/exact")["count"], 13)
        self.assertNotEqual(self.search("exact", {"vector": vec_for(5), "k": 1})[0][0]["id"], 5)
        self.assertEqual(self.search("exact", {"vector": vec_for(500), "k": 1})[0][0]["id"], 5)
        # a batch, a filter, fewer results than k, ef accepted
        res = self.search("exact", {"vectors": [vec_for(1), vec_for(2)], "k": 1})
        self.assertEqual([r[0]["id"] for r in res], [1, 2])
        res = self.search("exact", {"vector": vec_for(1), "k": 10, "filter": {"ids": [7, "doc-a", "absent"]}})
        self.assertEqual(sorted(map(str, (h["id"] for h in res[0]))), ["7", "doc-a"])
        self.assertEqual(self.search("exact", {"vector": vec_for(1), "k": 50, "ef": 100})[0][0]["id"], 1)
        self.assertEqual(len(self.search("exact", {"vector": vec_for(1), "k": 50})[0]), 13)
        self.assertEqual(self.ok("POST", "/collections/exact/delete", {"ids": ["doc-a"]})["deleted"], 1)
        self.assertNotEqual(self.search("exact", {"vector": vec_for(100), "k": 1})[0][0]["id"], "doc-a")
        self.ok("DELETE", "/collections/exact")

    def test_hnsw_and_metrics_kinds(self):
        rng = random.Random(3)
        for metric in ("l2", "ip", "cosine"):
            name = "h-" + metric
            self.create(name, kind="hnsw", metric=metric, dim=16)
            vecs = [[rng.uniform(-1, 1) for _ in range(16)] for _ in range(200)]
            for off in range(0, 200, 16):
                self.ok("POST", f"/collections/{name}/upsert",
                        {"points": [{"id": off + i, "vector": v} for i, v in enumerate(vecs[off:off + 16])]})
            def score(a, b):
                dot = sum(x * y for x, y in zip(a, b))
                if metric == "l2":
                    return -sum((x - y) ** 2 for x, y in zip(a, b))
                return dot if metric == "ip" else dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
            hits = 0
            for i in range(0, 200, 20):
                q = [x + 0.05 for x in vecs[i]]
                want = max(range(200), key=lambda j: score(vecs[j], q))
                hits += self.search(name, {"vector": q, "k": 1, "ef": 64})[0][0]["id"] == want
            self.assertGreaterEqual(hits, 9, metric)  # HNSW: approximate, but near exact at this size
            self.ok("DELETE", f"/collections/{name}")

    def test_text_upsert_and_search(self):
        self.create("docs", dim=DIM, metric="cosine")
        docs = {"cat": "the cat sat on the mat", "bank": "quarterly financial report of the bank",
                "space": "rockets launch satellites into orbit", "food": "a recipe for tomato soup"}
        pts = [{"id": k, "text": v} for k, v in docs.items()] + [{"id": 77, "vector": [0.0] * (DIM - 1) + [1.0]}]
        self.assertEqual(self.ok("POST", "/collections/docs/upsert", {"points": pts}), {"upserted": 5})
        for k, v in docs.items():
            top = self.search("docs", {"text": v, "k": 2})[0][0]
            self.assertEqual(top["id"], k)
            self.assertAlmostEqual(top["score"], 1.0, places=4)
        res = self.search("docs", {"texts": [docs["bank"], docs["food"]], "k": 1})
        self.assertEqual([r[0]["id"] for r in res], ["bank", "food"])
        # the engine's embedding of a text is what was stored
        emb = self.ok("POST", "/embed", {"inputs": docs["space"]})[0]
        self.assertEqual(self.search("docs", {"vector": emb, "k": 1})[0][0]["id"], "space")
        self.expect("POST", "/collections/docs/search", {"text": 5}, 422, "validation", "must be a string")
        self.expect("POST", "/collections/docs/search", {"texts": ["a", 1]}, 422, "validation", "\"texts\"[1]")
        self.create("small")
        self.expect("POST", "/collections/small/upsert", {"points": [{"id": 1, "text": "x"}]}, 422, "validation",
                    "model embeds texts in 64")
        self.expect("POST", "/collections/small/search", {"text": "x"}, 422, "validation", "model embeds texts in 64")
        self.ok("DELETE", "/collections/small")
        self.ok("DELETE", "/collections/docs")

    def test_errors(self):
        E = self.expect
        # create
        E("POST", "/collections", "{bad", 400, "bad_request", "invalid JSON")
        E("POST", "/collections", "[1]", 422, "validation", "JSON object")
        E("POST", "/collections", {"dim": 4}, 422, "validation", "\"name\" is required")
        E("POST", "/collections", {"name": "x"}, 422, "validation", "\"dim\" is required")
        E("POST", "/collections", {"name": "x", "dim": 0}, 422, "validation", "\"dim\"")
        E("POST", "/collections", {"name": "x", "dim": "4"}, 422, "validation", "\"dim\"")
        E("POST", "/collections", {"name": "x", "dim": 4, "metric": "hamming"}, 422, "validation", "metric")
        E("POST", "/collections", {"name": "x", "dim": 4, "metric": 3}, 422, "validation", "must be strings")
        E("POST", "/collections", {"name": "x", "dim": 4, "kind": "ivf"}, 422, "validation", "index kind")
        E("POST", "/collections", {"name": "x", "dim": 4, "kind": "hnsw", "m": 1}, 422, "validation", "\"m\"")
        E("POST", "/collections", {"name": "x", "dim": 4, "ef_search": -3}, 422, "validation", "ef_search")
        E("POST", "/collections", {"name": "../etc", "dim": 4}, 422, "validation", "collection name")
        E("POST", "/collections", {"name": "x" * 65, "dim": 4}, 422, "validation", "collection name")
        E("POST", "/collections", {"name": "a\u0000b", "dim": 4}, 422, "validation", "\"name\" is required")
        gpu = self.s.post("/collections", {"name": "gpu", "dim": 4, "kind": "gpu_flat"})
        if gpu.status == 422:  # the library says why (no CUDA backend in this build)
            self.assertIn("gpu_flat", gpu.json()["error"])
        else:
            self.assertEqual(gpu.status, 201, gpu.body)
            self.ok("DELETE", "/collections/gpu")
        # unknown collections, on every route
        for method, path in [("GET", "/collections/nope"), ("DELETE", "/collections/nope"),
                             ("POST", "/collections/nope/compact"), ("POST", "/collections/nope/snapshot")]:
            E(method, path, None, 404, "not_found", "nope")
        E("POST", "/collections/nope/upsert", {"points": [{"id": 1, "vector": [1]}]}, 404, "not_found")
        E("POST", "/collections/nope/delete", {"ids": [1]}, 404, "not_found")
        E("POST", "/collections/nope/search", {"vector": [1]}, 404, "not_found")
        E("GET", "/collections/a/b/c", None, 404, "not_found")
        r = E("PUT", "/collections/errs", None, 405, "method_not_allowed")
        self.assertEqual(r.headers["allow"], "GET, DELETE")
        r = E("GET", "/collections/errs/search", None, 405, "method_not_allowed")
        self.assertEqual(r.headers["allow"], "POST")
        E("PUT", "/collections", None, 405)
        # upsert
        self.create("errs", dim=3)
        U = "/collections/errs/upsert"
        E("POST", U, "{", 400, "bad_request")
        E("POST", U, {}, 422, "validation", "\"points\"")
        E("POST", U, {"points": []}, 422, "validation", "non-empty")
        E("POST", U, {"points": [{"id": i, "vector": [1, 2, 3]} for i in range(17)]}, 422, "validation",
          "more than the limit of 16")
        E("POST", U, {"points": [5]}, 422, "validation", "\"points\"[0] must be an object")
        E("POST", U, {"points": [{"vector": [1, 2, 3]}]}, 422, "validation", "id is required")
        for bad in (1.5, "", "x" * 257, True, None, [1], "a\u0000b"):
            E("POST", U, {"points": [{"id": bad, "vector": [1, 2, 3]}]}, 422, "validation", "\"points\"[0].id")
        E("POST", U, {"points": [{"id": 1}]}, 422, "validation", "either \"vector\" or \"text\"")
        E("POST", U, {"points": [{"id": 1, "vector": [1, 2, 3], "text": "x"}]}, 422, "validation", "either")
        E("POST", U, {"points": [{"id": 1, "vector": [1, 2]}]}, 422, "validation", "dimension is 3")
        E("POST", U, {"points": [{"id": 1, "vector": [1, 2, 3, 4]}]}, 422, "validation", "dimension is 3")
        E("POST", U, {"points": [{"id": 1, "vector": [1, "2", 3]}]}, 422, "validation", "must be a number")
        E("POST", U, {"points": [{"id": 1, "vector": "1,2,3"}]}, 422, "validation", "array of 3 numbers")
        E("POST", U, '{"points": [{"id": 1, "vector": [1, 1e300, 3]}]}', 422, "validation", "finite float32")
        E("POST", U, '{"points": [{"id": 1, "vector": [1, NaN, 3]}]}', 400, "bad_request")
        E("POST", U, '{"points": [{"id": 1, "vector": [1, 1e999, 3]}]}', 400, "bad_request")
        E("POST", U, {"points": [{"id": 1, "vector": [0.5] * 3}] + [{"id": 2, "vector": [1, 2]}]}, 422)
        self.assertEqual(self.ok("GET", "/collections/errs")["count"], 0)  # nothing of a rejected request
        E("POST", U, "x" * 300000, 413, "payload_too_large")
        # delete
        E("POST", "/collections/errs/delete", {}, 422, "validation", "\"ids\" is required")
        E("POST", "/collections/errs/delete", {"ids": 5}, 422, "validation", "array of ids")
        E("POST", "/collections/errs/delete", {"ids": [1, 2.5]}, 422, "validation", "\"ids\"[1]")
        # search
        S = "/collections/errs/search"
        self.ok("POST", U, {"points": [{"id": 1, "vector": [1, 2, 3]}]})
        E("POST", S, {}, 422, "validation", "exactly one of")
        E("POST", S, {"vector": [1, 2, 3], "vectors": [[1, 2, 3]]}, 422, "validation", "exactly one of")
        E("POST", S, {"vector": [1, 2]}, 422, "validation", "dimension is 3")
        E("POST", S, {"vectors": [[1, 2, 3], [1, 2]]}, 422, "validation", "\"vectors\"[1]")
        E("POST", S, {"vectors": []}, 422, "validation", "non-empty")
        E("POST", S, {"vectors": [[1, 2, 3]] * 5}, 422, "validation", "more than the limit of 4")
        E("POST", S, {"texts": ["a"] * 5}, 422, "validation", "more than the limit of 4")
        E("POST", S, {"vector": [1, 2, 3], "k": 0}, 422, "validation", "\"k\" must be an integer in [1, 50]")
        E("POST", S, {"vector": [1, 2, 3], "k": 51}, 422, "validation", "[1, 50]")
        E("POST", S, {"vector": [1, 2, 3], "k": "3"}, 422, "validation", "\"k\"")
        E("POST", S, {"vector": [1, 2, 3], "ef": 0}, 422, "validation", "\"ef\"")
        E("POST", S, {"vector": [1, 2, 3e39]}, 422, "validation", "finite float32")
        E("POST", S, {"vector": [1, 2, 3], "filter": [1]}, 422, "validation", "\"filter\"")
        E("POST", S, {"vector": [1, 2, 3], "filter": {"ids": [{}]}}, 422, "validation", "\"filter\".ids[0]")
        self.assertEqual(self.search("errs", {"vectors": [[1, 2, 3]] * 4, "k": 50})[3][0]["id"], 1)
        self.ok("DELETE", "/collections/errs")
        self.assertEqual(self.s.get("/health").status, 200)

    def test_fuzz_bodies(self):
        """Mutated bodies on every write and search route: a clear 2xx/4xx, never a 5xx or a crash."""
        rng = random.Random(11)
        self.create("fz", dim=3)
        seeds = {"/collections": [b'{"name": "fz2", "dim": 3, "metric": "ip", "kind": "hnsw", "m": 4}'],
                 "/collections/fz/upsert": [b'{"points": [{"id": 1, "vector": [1, 2, 3]}, {"id": "a", "text": "x"}]}'],
                 "/collections/fz/search": [b'{"vectors": [[1, 2, 3]], "k": 2, "ef": 8, "filter": {"ids": [1, "a"]}}',
                                            b'{"text": "hello", "k": 1}'],
                 "/collections/fz/delete": [b'{"ids": [1, "a", -5]}']}
        junk = [b"\x00", b"\xff", b"\\u0000", b'"', b"[", b"]", b"{", b"}", b",", b"-1", b"1e38", b"1e39", b"null",
                b"true", b"99999999999999999999", b"0.5", b'"' + b"y" * 300 + b'"']
        for path, bodies in seeds.items():
            for _ in range(120):
                b = bytearray(rng.choice(bodies))
                for _ in range(rng.randint(1, 4)):
                    op, pos = rng.randint(0, 3), rng.randint(0, len(b))
                    if op == 0 and b:
                        del b[pos:pos + rng.randint(1, 4)]
                    elif op == 1:
                        b[pos:pos] = rng.choice(junk)
                    elif op == 2 and b:
                        b[min(pos, len(b) - 1)] = rng.randint(0, 255)
                    else:
                        b = b[:pos]
                r = self.s.post(path, bytes(b))
                self.assertIn(r.status, (200, 201, 400, 404, 409, 422), (path, bytes(b), r.body))
                if r.status >= 400:
                    self.assertIn("error", r.json())
        for c in self.ok("GET", "/collections")["collections"]:
            if c["name"].startswith("fz"):
                self.ok("DELETE", "/collections/" + c["name"])
        self.assertEqual(self.s.get("/health").status, 200)

    def test_invoke_search(self):
        self.create("agents", dim=DIM)
        self.ok("POST", "/collections/agents/upsert", {"points": [{"id": "hello", "text": "hello world"},
                                                                  {"id": "bye", "text": "goodbye cruel world"}]})
        body = {"action": "search", "collection": "agents", "text": "hello world", "k": 2, "timeout_ms": 5000}
        r = self.s.signed(SECRET, "POST", "/invoke", body)
        self.assertEqual(r.status, 200, r.body)
        d = r.json()
        self.assertEqual((d["action"], d["collection"]), ("search", "agents"))
        self.assertEqual([h["id"] for h in d["results"][0]], ["hello", "bye"])
        emb = self.ok("POST", "/embed", {"inputs": "goodbye cruel world"})[0]
        r = self.s.signed(SECRET, "POST", "/invoke", {"action": "search", "collection": "agents", "vectors": [emb],
                                                      "k": 1})
        self.assertEqual(r.json()["results"][0][0]["id"], "bye")
        self.assertEqual(self.s.post("/invoke", body).status, 401)  # unsigned
        raw = json.dumps(body).encode()
        self.assertEqual(self.s.request("POST", "/invoke", raw, headers=sign("wrong", "POST", "/invoke", raw)).status,
                         401)
        r = self.s.signed(SECRET, "POST", "/invoke", {"action": "search", "text": "x"})
        self.assertEqual(r.status, 422)
        self.assertIn("\"collection\" is required", r.json()["error"])
        r = self.s.signed(SECRET, "POST", "/invoke", {"action": "search", "collection": "none", "text": "x"})
        self.assertEqual(r.status, 404)
        r = self.s.signed(SECRET, "POST", "/invoke", {"action": "search", "collection": "agents", "text": "x", "k": 99})
        self.assertEqual(r.status, 422)
        r = self.s.signed(SECRET, "POST", "/invoke", {"action": "fly"})
        self.assertIn("supported: embed, search", r.json()["error"])
        self.ok("DELETE", "/collections/agents")

    def test_metrics(self):
        self.create("met")
        self.ok("POST", "/collections/met/upsert", {"points": [{"id": i, "vector": vec_for(i)} for i in range(3)]})
        self.search("met", {"vectors": [vec_for(0), vec_for(1)]})
        text = self.s.get("/metrics").body.decode()
        for series in ["omega_search_latency_seconds_bucket", "omega_search_queries_total{kind=\"flat\",route=\"cpu\"}",
                       "omega_index_vectors{collection=\"met\"} 3", "omega_index_bytes{collection=\"met\"}",
                       "omega_index_wal_bytes{collection=\"met\"}", "omega_index_snapshot_seconds_bucket",
                       "# TYPE omega_search_latency_seconds histogram", "# TYPE omega_index_snapshot_seconds histogram"]:
            self.assertIn(series, text)
        self.assertGreaterEqual(self.s.metric("omega_search_queries_total", {"kind": "flat", "route": "cpu"}), 2)
        self.assertGreaterEqual(self.s.metric("omega_http_requests_total",
                                              {"endpoint": "collection_search", "status": "200"}), 1)
        self.ok("DELETE", "/collections/met")
        self.assertNotIn("collection=\"met\"", self.s.get("/metrics").body.decode())

    def test_concurrent_writes_searches_and_drop(self):
        self.create("busy", kind="hnsw")
        def work(i):
            out = []
            for j in range(15):
                out.append(self.s.post("/collections/busy/upsert",
                                       {"points": [{"id": i * 100 + j, "vector": vec_for(i * 100 + j)}]}).status)
                out.append(self.s.post("/collections/busy/search", {"vector": vec_for(j), "k": 3}).status)
            return out
        res = run_threads(6, work)
        self.assertEqual({s for r in res for s in r}, {200})
        self.assertEqual(self.ok("GET", "/collections/busy")["count"], 90)
        # a drop in the middle of searches: each one answers 200 or 404, never worse
        stop = threading.Event()
        def hammer(i):
            seen = set()
            while not stop.is_set():
                seen.add(self.s.post("/collections/busy/search", {"vector": vec_for(i), "k": 5}).status)
            return seen
        th = [threading.Thread(target=lambda i=i: results.append(hammer(i))) for i in range(4)]
        results = []
        for t in th:
            t.start()
        time.sleep(0.2)
        self.ok("DELETE", "/collections/busy")
        time.sleep(0.1)
        stop.set()
        for t in th:
            t.join()
        self.assertTrue(set().union(*results) <= {200, 404}, results)


class Limits(unittest.TestCase):
    def test_memory_limit_507(self):
        s = Server(env={"OMEGA_INDEX_MEMORY_LIMIT_MB": "1"})
        try:
            self.assertEqual(s.post("/collections", {"name": "m", "dim": 256}).status, 201)
            rng = random.Random(1)
            statuses, n = [], 0
            while n < 5000:
                pts = [{"id": n + i, "vector": [rng.random() for _ in range(256)]} for i in range(100)]
                r = s.post("/collections/m/upsert", {"points": pts})
                statuses.append(r.status)
                if r.status != 200:
                    break
                n += 100
            self.assertEqual(statuses[-1], 507, statuses)
            err = r.json()
            self.assertEqual(err["error_type"], "insufficient_storage")
            self.assertIn("memory limit", err["error"])
            d = s.get("/collections/m").json()
            self.assertEqual(d["count"], n)  # the refused upsert changed nothing
            self.assertEqual(d["memory_limit_bytes"], 1 << 20)
            self.assertLessEqual(d["bytes"], 1 << 20)
            self.assertEqual(s.post("/collections/m/search", {"vector": [0.5] * 256}).status, 200)
        finally:
            self.assertEqual(s.stop(), 0)

    def test_not_ready_503(self):
        s = Server(env={"OMEGA_FAULT_INJECT": "load_delay_ms:1500"}, wait_ready=False)
        try:
            r = s.get("/collections")
            self.assertEqual(r.status, 503)
            self.assertEqual(r.json()["error_type"], "unavailable")
            s.wait_ready()
            self.assertEqual(s.get("/collections").json(), {"collections": []})
        finally:
            self.assertEqual(s.stop(), 0)

    def test_in_memory_without_data_dir(self):
        s = Server()
        try:
            d = s.post("/collections", {"name": "mem", "dim": 2}).json()
            self.assertFalse(d["persistent"])
            self.assertEqual(d["wal_bytes"], 0)
            self.assertEqual(s.post("/collections/mem/snapshot", b"").status, 200)
        finally:
            self.assertEqual(s.stop(), 0)
        s = Server()
        try:
            self.assertEqual(s.get("/collections/mem").status, 404)
        finally:
            self.assertEqual(s.stop(), 0)


class GpuFlat(unittest.TestCase):
    def test_routes_counted_and_fallback_exact(self):
        """gpu_flat on the simulated device: queries count as route gpu; with an injected GPU
        out-of-memory they run on the CPU, count as fallback, and give the same results."""
        s = Server(env={"OMEGA_FAULT_INJECT": "gpu_sim:1", "OMEGA_HMAC_SECRET": SECRET})
        try:
            d = s.post("/collections", {"name": "g", "dim": 8, "kind": "gpu_flat", "metric": "l2"}).json()
            self.assertEqual(d["kind"], "gpu_flat")
            self.assertTrue(d["gpu"]["active"], d)
            pts = [{"id": i, "vector": vec_for(i)} for i in range(40)]
            self.assertEqual(s.post("/collections/g/upsert", {"points": pts}).status, 200)
            body = {"vectors": [vec_for(3), vec_for(17), [x + 0.2 for x in vec_for(9)]], "k": 4}
            on_gpu = s.post("/collections/g/search", body).json()["results"]
            self.assertEqual([r[0]["id"] for r in on_gpu], [3, 17, 9])
            route = lambda r: s.metric("omega_search_queries_total", {"kind": "gpu_flat", "route": r})
            self.assertEqual(route("gpu"), 3)
            put = s.signed(SECRET, "PUT", "/accel/config", {"OMEGA_FAULT_INJECT": "gpu_sim:1,cuda_oom:1"})
            self.assertEqual(put.status, 200, put.body)
            fallback = s.post("/collections/g/search", body).json()["results"]
            self.assertEqual(fallback, on_gpu)
            self.assertEqual(route("fallback"), 3)
            self.assertEqual(route("gpu"), 3)
            self.assertEqual(s.get("/collections/g").json()["gpu"]["queries"]["fallback"], 3)
        finally:
            self.assertEqual(s.stop(), 0)


class Persistence(unittest.TestCase):
    def setUp(self):
        self.data = tempfile.mkdtemp(prefix="omega-persist-")

    def tearDown(self):
        shutil.rmtree(self.data, ignore_errors=True)

    def test_restart_keeps_collections(self):
        env = {"OMEGA_DATA_DIR": self.data}
        s = Server(env=env)
        try:
            self.assertEqual(s.post("/collections", {"name": "keep", "dim": DIM, "kind": "hnsw"}).status, 201)
            self.assertEqual(s.post("/collections", {"name": "flat8", "dim": 8, "metric": "l2"}).status, 201)
            self.assertEqual(s.post("/collections/keep/upsert", {"points": [
                {"id": "cat", "text": "the cat sat on the mat"}, {"id": "bank", "text": "the bank report"}]}).status, 200)
            self.assertEqual(s.post("/collections/flat8/upsert", {"points": [
                {"id": i, "vector": vec_for(i)} for i in range(20)]}).status, 200)
            self.assertEqual(s.post("/collections/flat8/delete", {"ids": [3]}).json()["deleted"], 1)
            self.assertEqual(s.post("/collections", {"name": "gone", "dim": 2}).status, 201)
            self.assertEqual(s.request("DELETE", "/collections/gone").status, 200)
        finally:
            self.assertEqual(s.stop(), 0)
        s = Server(env=env)
        try:
            names = [c["name"] for c in s.get("/collections").json()["collections"]]
            self.assertEqual(names, ["flat8", "keep"])
            d = s.get("/collections/keep").json()
            self.assertEqual((d["kind"], d["dim"], d["count"]), ("hnsw", DIM, 2))
            top = s.post("/collections/keep/search", {"text": "the cat sat on the mat", "k": 1}).json()
            self.assertEqual(top["results"][0][0]["id"], "cat")
            self.assertEqual(s.get("/collections/flat8").json()["count"], 19)
            r = s.post("/collections/flat8/search", {"vectors": [vec_for(7), vec_for(3)], "k": 1}).json()["results"]
            self.assertEqual(r[0][0], {"id": 7, "score": 0})
            self.assertNotEqual(r[1][0]["id"], 3)
            self.assertEqual(s.metric("omega_index_vectors", {"collection": "flat8"}), 19)
        finally:
            self.assertEqual(s.stop(), 0)

    def test_corrupt_snapshot_refuses_to_start(self):
        env = {"OMEGA_DATA_DIR": self.data}
        s = Server(env=env)
        try:
            self.assertEqual(s.post("/collections", {"name": "c", "dim": 4}).status, 201)
            s.post("/collections/c/upsert", {"points": [{"id": 1, "vector": [1, 2, 3, 4]}]})
        finally:
            self.assertEqual(s.stop(), 0)
        snap = os.path.join(self.data, "collections", "c", "snapshot.omg")
        with open(snap, "r+b") as f:
            f.seek(os.path.getsize(snap) // 2)
            f.write(b"\xde\xad\xbe\xef")
        r = subprocess.run([OMEGA, "serve", "--model", small_model(), "--port", "0"], capture_output=True, timeout=60,
                           env={**os.environ, "OMEGA_DATA_DIR": self.data})
        self.assertNotEqual(r.returncode, 0)
        out = (r.stdout + r.stderr).decode()
        self.assertIn("cannot open the collections", out)
        self.assertIn(snap, out)

    def test_kill_9_loses_no_acknowledged_write(self):
        """Rounds of: upserts from a client thread, `kill -9` at a random moment, restart,
        then every id the server acknowledged (HTTP 200) must be there."""
        env = {"OMEGA_DATA_DIR": self.data, "OMEGA_INDEX_FSYNC": "always", "OMEGA_SEARCH_MAX_BATCH": "64"}
        rng = random.Random(int(os.environ.get("OMEGA_CRASH_SEED", "5")))
        acked, next_id = [], [0]
        for rnd in range(5):
            s = Server(env=env)
            if rnd == 0:
                self.assertEqual(s.post("/collections", {"name": "crash", "dim": 8, "metric": "l2"}).status, 201)
            self.check_present(s, acked)
            stop = threading.Event()
            def writer():
                import http.client
                conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
                while not stop.is_set():
                    ids = list(range(next_id[0], next_id[0] + rng.randint(1, 20)))
                    next_id[0] = ids[-1] + 1
                    try:
                        r = s.request("POST", "/collections/crash/upsert",
                                      {"points": [{"id": i, "vector": vec_for(i)} for i in ids]}, conn=conn)
                    except (OSError, http.client.HTTPException):
                        return  # the server died mid-request: not acknowledged
                    if r.status == 200:
                        acked.extend(ids)
            th = threading.Thread(target=writer)
            th.start()
            time.sleep(rng.uniform(0.2, 1.2))
            s.proc.kill()
            s.proc.wait()
            stop.set()
            th.join()
            s.log.close()
        s = Server(env=env)
        try:
            self.assertGreater(len(acked), 50)
            self.check_present(s, acked)
        finally:
            self.assertEqual(s.stop(), 0)

    def refused_start(self, *want, args=()):
        """`omega serve` on the data folder exits non-zero, its output naming each of want
        (one that gets ready instead is stopped and fails the test)."""
        proc = subprocess.Popen([OMEGA, "serve", "--model", small_model(), "--port", "0"] + list(args),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env={**os.environ, "OMEGA_DATA_DIR": self.data})
        lines = []
        for line in proc.stdout:
            lines.append(line.decode())
            if " ready: " in lines[-1]:
                proc.kill()
        proc.stdout.close()
        rc = proc.wait(timeout=60)
        out = "".join(lines)
        self.assertFalse(" ready: " in out, "the server started on damaged collections:\n" + out)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("cannot open the collections", out)
        for w in want:
            self.assertIn(w, out)
        return out

    def written_then_killed(self, name, n):
        """A collection whose acknowledged writes (n points) are in its log: the server is
        killed, so no clean stop folds them into the snapshot."""
        s = Server(env={"OMEGA_DATA_DIR": self.data})
        self.assertEqual(s.post("/collections", {"name": name, "dim": 8, "metric": "l2"}).status, 201)
        for off in range(0, n, 10):
            r = s.post(f"/collections/{name}/upsert", {"points": [{"id": i, "vector": vec_for(i)}
                                                                  for i in range(off, off + 10)]})
            self.assertEqual(r.status, 200, r.body)
        s.proc.kill()
        s.proc.wait()
        s.log.close()
        return os.path.join(self.data, "collections", name)

    def test_damaged_log_refuses_start_unless_loss_accepted(self):
        folder = self.written_then_killed("dmg", 40)
        wal = os.path.join(folder, "wal.log")
        with open(wal, "r+b") as f:
            f.truncate(os.path.getsize(wal) // 2)
        before = open(wal, "rb").read()
        self.refused_start(wal, "cut short", "acknowledged records", "OMEGA_INDEX_ACCEPT_LOSS=dmg")
        self.assertEqual(open(wal, "rb").read(), before, "a refused start-up changed the log")
        # accepted for this restart: it starts, says what was lost, and is whole again after
        s = Server(env={"OMEGA_DATA_DIR": self.data}, args=["--set", "OMEGA_INDEX_ACCEPT_LOSS=other,dmg"])
        try:
            self.assertIn("accepting the loss", s.text())
            self.assertRegex(s.text(), r"\d+ records replayed, \d+ acknowledged records lost")
            count = s.get("/collections/dmg").json()["count"]
            self.assertTrue(0 < count < 40, count)
        finally:
            self.assertEqual(s.stop(), 0)
        s = Server(env={"OMEGA_DATA_DIR": self.data})
        try:
            self.assertEqual(s.get("/collections/dmg").json()["count"], count)
        finally:
            self.assertEqual(s.stop(), 0)
        # a deleted log, and a flipped generation in its header (2 -> 0 would once skip it)
        folder = self.written_then_killed("gone", 20)
        os.unlink(os.path.join(folder, "wal.log"))
        self.refused_start("gone/wal.log is missing", "OMEGA_INDEX_ACCEPT_LOSS=gone",
                           args=["--set", "OMEGA_INDEX_ACCEPT_LOSS=dmg"])
        shutil.rmtree(folder)
        folder = self.written_then_killed("flip", 20)
        with open(os.path.join(folder, "wal.log"), "r+b") as f:
            f.seek(16)
            f.write(bytes([f.read(1)[0] ^ 2]))
        self.refused_start("flip/wal.log: header fails its checksums")

    def test_missing_snapshot_refuses_start_and_create(self):
        folder = self.written_then_killed("lost", 20)
        os.unlink(os.path.join(folder, "snapshot.omg"))
        wal = os.path.join(folder, "wal.log")
        before = open(wal, "rb").read()
        self.refused_start("lost/snapshot.omg is missing", "wal.log (")
        self.refused_start("lost/snapshot.omg is missing", args=["--set", "OMEGA_INDEX_ACCEPT_LOSS=*"])
        # the folder is moved away for the start-up, and back while the server runs: a
        # create of its name must not write over the log
        aside = os.path.join(self.data, "lost.aside")
        os.rename(folder, aside)
        s = Server(env={"OMEGA_DATA_DIR": self.data})
        try:
            os.rename(aside, folder)
            r = s.post("/collections", {"name": "lost", "dim": 8})
            self.assertEqual(r.status, 422, r.body)
            self.assertIn("already holds collection files", r.json()["error"])
            self.assertEqual(sorted(os.listdir(folder)), ["wal.log"])
            self.assertEqual(open(wal, "rb").read(), before, "a refused create changed the log")
            self.assertEqual(s.get("/collections/lost").status, 404)
        finally:
            self.assertEqual(s.stop(), 0)

    def test_vector_norm_bound(self):
        s = Server(env={"OMEGA_DATA_DIR": self.data})
        try:
            self.assertEqual(s.post("/collections", {"name": "big", "dim": 4, "metric": "l2"}).status, 201)
            past = [1.01e18 / 2] * 4  # norm 1.01e18
            r = s.post("/collections/big/upsert", {"points": [{"id": 1, "vector": [1, 2, 3, 4]},
                                                             {"id": 2, "vector": past}]})
            self.assertEqual(r.status, 422, r.body)
            self.assertEqual(r.json()["error_type"], "validation")
            self.assertIn("point 1", r.json()["error"])
            self.assertIn("1e+18", r.json()["error"])
            under = 0.999e18 / 2
            r = s.post("/collections/big/upsert", {"points": [{"id": 1, "vector": [under] * 4},
                                                             {"id": 2, "vector": [-under] * 4},
                                                             {"id": 3, "vector": [under, -under] * 2}]})
            self.assertEqual(r.status, 200, r.body)
            res = s.post("/collections/big/search", {"vectors": [[-under] * 4, [under] * 4], "k": 3}).json()
            scores = [h["score"] for q in res["results"] for h in q]
            self.assertEqual(len(scores), 6)
            self.assertTrue(all(isinstance(x, (int, float)) and math.isfinite(x) for x in scores), scores)
            r = s.post("/collections/big/search", {"vector": past, "k": 1})
            self.assertEqual(r.status, 422, r.body)
            self.assertIn("1e+18", r.json()["error"])
        finally:
            self.assertEqual(s.stop(), 0)

    def check_present(self, s, acked):
        if not acked:
            return
        self.assertGreaterEqual(s.get("/collections/crash").json()["count"], len(acked))
        for off in range(0, len(acked), 64):
            chunk = acked[off:off + 64]
            r = s.post("/collections/crash/search", {"vectors": [vec_for(i) for i in chunk], "k": 1})
            self.assertEqual(r.status, 200, r.body)
            got = [res[0] for res in r.json()["results"]]
            for i, hit in zip(chunk, got):
                self.assertEqual(hit, {"id": i, "score": 0}, f"acknowledged id {i} lost")


if __name__ == "__main__":
    unittest.main(verbosity=2)
