"""Black-box tests of `omega serve` over real HTTP: every endpoint, every error status,
HMAC, hot reload under load, back-pressure, deadlines, client disconnects and SIGTERM drain.

  OMEGA_BIN=build/omega OMEGA_GENMODEL=build/omega-genmodel python3 tests/server/test_server.py
"""
import base64
import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from omega_test_server import OMEGA, Server, raw_request, run_threads, sign, small_model  # noqa: E402

SECRET = "s3cret-for-tests-0123456789"


def norm(v):
    return sum(x * x for x in v) ** 0.5


class Api(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="omega-api-")
        secret_file = os.path.join(cls.tmp, "secret")
        with open(secret_file, "w") as f:
            f.write(SECRET + "\n")
        cls.sock = os.path.join(cls.tmp, "omega.sock")
        cls.s = Server(["--unix-socket", cls.sock],
                       env={"OMEGA_HMAC_SECRET_FILE": secret_file, "OMEGA_MAX_INPUTS": "8",
                            "OMEGA_MAX_BODY_BYTES": "65536"})

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def test_health_ready_info(self):
        self.assertEqual(self.s.get("/health").json(), {"status": "ok"})
        self.assertEqual(self.s.get("/ready").status, 200)
        info = self.s.get("/info").json()
        self.assertEqual(info["dim"], 64)
        self.assertEqual(info["max_input_length"], 32)
        self.assertEqual(info["backend"], "cpu")
        self.assertTrue(info["model_id"].startswith("omega-srv-model-"))

    def test_embed(self):
        one = self.s.post("/embed", {"inputs": "hello world"})
        self.assertEqual(one.status, 200, one.body)
        rows = one.json()
        self.assertEqual(len(rows), 1)
        self.assertEqual(len(rows[0]), 64)
        self.assertAlmostEqual(norm(rows[0]), 1.0, places=5)
        many = self.s.post("/embed", {"inputs": ["hello world", "", "another sentence"]}).json()
        self.assertEqual(len(many), 3)
        self.assertEqual([round(x, 6) for x in many[0]], [round(x, 6) for x in rows[0]])
        raw = self.s.post("/embed", {"inputs": "hello world", "normalize": False}).json()[0]
        self.assertGreater(abs(norm(raw) - 1.0), 1e-3)
        scale = norm(raw)
        for a, b in zip(raw, rows[0]):
            self.assertAlmostEqual(a / scale, b, places=5)
        dims = self.s.post("/embed", {"inputs": "hello world", "dimensions": 16}).json()[0]
        self.assertEqual(len(dims), 16)
        self.assertAlmostEqual(norm(dims), 1.0, places=5)  # Matryoshka: truncated and renormalised
        # NUL inside a JSON string is text, as for HF (clean_text drops it)
        nul = self.s.post("/embed", {"inputs": "hello\u0000 world"})
        self.assertEqual(nul.status, 200)

    def test_embed_matches_cli(self):
        text = "The server and the command line give the same embedding."
        http_row = self.s.post("/embed", {"inputs": text}).json()[0]
        out = subprocess.run([OMEGA, "embed", "--model", small_model(), "--quiet", "--precision", "fp32"], input=text.encode(),
                             capture_output=True, check=True).stdout
        cli_row = json.loads(out)
        for a, b in zip(http_row, cli_row):
            self.assertAlmostEqual(a, b, places=6)

    def test_truncate(self):
        long_text = " ".join(["word"] * 100)
        r = self.s.post("/embed", {"inputs": long_text})
        self.assertEqual(r.status, 422)
        self.assertIn("max_seq_length 32", r.json()["error"])
        self.assertEqual(self.s.post("/embed", {"inputs": long_text, "truncate": True}).status, 200)
        self.assertEqual(self.s.post("/v1/embeddings", {"input": long_text}).status, 422)
        self.assertEqual(self.s.post("/v1/embeddings", {"input": long_text, "truncate": True}).status, 200)

    def test_openai(self):
        r = self.s.post("/v1/embeddings", {"input": ["hello world", "second"], "model": "anything"})
        self.assertEqual(r.status, 200, r.body)
        d = r.json()
        self.assertEqual(d["object"], "list")
        self.assertEqual([e["index"] for e in d["data"]], [0, 1])
        self.assertEqual(d["data"][0]["object"], "embedding")
        self.assertEqual(len(d["data"][0]["embedding"]), 64)
        self.assertEqual(d["usage"]["prompt_tokens"], d["usage"]["total_tokens"])
        self.assertGreater(d["usage"]["prompt_tokens"], 4)
        self.assertTrue(d["model"].startswith("omega-srv-model-"))
        single = self.s.post("/v1/embeddings", {"input": "hello world"}).json()["data"]
        self.assertEqual(len(single), 1)
        b64 = self.s.post("/v1/embeddings", {"input": "hello world", "encoding_format": "base64"}).json()
        floats = struct.unpack("<64f", base64.b64decode(b64["data"][0]["embedding"]))
        for a, b in zip(floats, single[0]["embedding"]):
            self.assertAlmostEqual(a, b, places=6)
        # token ids: the same ids the text tokenizes to give the same embedding
        ids = [t["id"] for t in self.s.post("/tokenize", {"inputs": "hello world"}).json()[0]]
        by_ids = self.s.post("/v1/embeddings", {"input": ids}).json()["data"][0]["embedding"]
        for a, b in zip(by_ids, single[0]["embedding"]):
            self.assertAlmostEqual(a, b, places=6)
        nested = self.s.post("/v1/embeddings", {"input": [ids, ids[:3] + [102]]}).json()["data"]
        self.assertEqual(len(nested), 2)
        dims = self.s.post("/v1/embeddings", {"input": "x", "dimensions": 8}).json()["data"][0]["embedding"]
        self.assertEqual(len(dims), 8)

    def test_tokenize(self):
        toks = self.s.post("/tokenize", {"inputs": ["Hello [MASK]", "a"]}).json()
        self.assertEqual([t["id"] for t in toks[0]], [101, 7592, 103, 102])
        self.assertEqual([t["text"] for t in toks[0]], ["[CLS]", "hello", "[MASK]", "[SEP]"])
        self.assertEqual([t["special"] for t in toks[0]], [True, False, True, True])
        bare = self.s.post("/tokenize", {"inputs": "Hello", "add_special_tokens": False}).json()
        self.assertEqual([t["id"] for t in bare[0]], [7592])

    def expect(self, method, path, body, status, error_type=None, contains=None, **kw):
        r = self.s.request(method, path, body, **kw)
        self.assertEqual(r.status, status, f"{method} {path} {body!r}: {r.body!r}")
        if status >= 400 and r.body:
            d = r.json()
            self.assertIsInstance(d["error"], str)
            if error_type:
                self.assertEqual(d["error_type"], error_type)
            if contains:
                self.assertIn(contains, d["error"])
        return r

    def test_errors(self):
        self.expect("POST", "/embed", "{bad json", 400, "bad_request", "invalid JSON")
        self.expect("POST", "/embed", b'{"inputs": "\xff"}', 400, "bad_request")
        self.expect("GET", "/nope", None, 404, "not_found")
        r = self.expect("GET", "/embed", None, 405, "method_not_allowed")
        self.assertEqual(r.headers["allow"], "POST")
        self.expect("DELETE", "/accel/config", None, 405)
        self.expect("POST", "/embed", "[1, 2]", 422, "validation", "JSON object")
        self.expect("POST", "/embed", {}, 422, "validation", "\"inputs\" is required")
        self.expect("POST", "/embed", {"inputs": 5}, 422, "validation", "string or an array")
        self.expect("POST", "/embed", {"inputs": []}, 422, "validation", "must not be empty")
        self.expect("POST", "/embed", {"inputs": ["a", 3]}, 422, "validation", "\"inputs\"[1]")
        self.expect("POST", "/embed", {"inputs": ["a"] * 9}, 422, "validation", "more than the limit of 8")
        self.expect("POST", "/embed", {"inputs": "a", "normalize": "yes"}, 422, "validation", "normalize")
        self.expect("POST", "/embed", {"inputs": "a", "dimensions": 0}, 422, "validation", "dimensions")
        self.expect("POST", "/embed", {"inputs": "a", "dimensions": 65}, 422, "validation", "dimensions")
        self.expect("POST", "/embed", {"inputs": "a", "truncation_direction": "left"}, 422, "validation")
        self.expect("POST", "/v1/embeddings", {}, 422, "validation", "\"input\" is required")
        self.expect("POST", "/v1/embeddings", {"input": "a", "encoding_format": "int8"}, 422, "validation")
        self.expect("POST", "/v1/embeddings", {"input": [101, 99999999, 102]}, 422, "validation", "outside the vocabulary")
        self.expect("POST", "/v1/embeddings", {"input": [[101, 102], []]}, 422, "validation")
        self.expect("POST", "/v1/embeddings", {"input": "a", "model": 7}, 422, "validation")
        self.expect("POST", "/tokenize", {"inputs": "a", "add_special_tokens": 1}, 422, "validation")
        # bodies over the limit: announced by Content-Length, and streamed chunked
        big = json.dumps({"inputs": "x" * 70000})
        self.expect("POST", "/embed", big, 413, "payload_too_large")
        status = raw_request(self.s.port, b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(
                                 b"%x\r\n%s\r\n" % (8000, b"y" * 8000) for _ in range(10)) + b"0\r\n\r\n")
        self.assertIn(b"413", status)
        # a malformed request line or header never crashes the server
        raw_request(self.s.port, b"GARBAGE\r\n\r\n")
        raw_request(self.s.port, b"POST /embed HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n")
        self.assertEqual(self.s.get("/health").status, 200)

    def test_fuzz_bodies(self):
        """Mutated request bodies: always a clear 2xx/4xx answer, never a 5xx or a crash."""
        import random
        rng = random.Random(7)
        seeds = {"/embed": [b'{"inputs": ["hello", "world"], "normalize": true, "dimensions": 8}'],
                 "/v1/embeddings": [b'{"input": [[101, 7592, 102]], "encoding_format": "base64"}',
                                    b'{"input": "x", "model": "m", "dimensions": 4}'],
                 "/tokenize": [b'{"inputs": "Hello [MASK]", "add_special_tokens": false}']}
        junk = [b"\x00", b"\xff", b"\\u0000", b'"', b"[", b"]", b"{", b"}", b",", b"-1", b"1e999", b"null", b"true",
                b"\\ud800", b"99999999999999999999"]
        statuses = {}
        conn = None
        for path, bodies in seeds.items():
            for i in range(150):
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
                statuses[r.status] = statuses.get(r.status, 0) + 1
                self.assertIn(r.status, (200, 400, 413, 422), (path, bytes(b), r.body))
                if r.status >= 400:
                    self.assertIn("error", r.json())
        self.assertEqual(self.s.get("/health").status, 200)
        self.assertGreater(statuses.get(400, 0), 0)
        self.assertGreater(statuses.get(200, 0), 0)

    def test_keepalive_and_unix_socket(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=10)
        for i in range(5):
            r = self.s.request("POST", "/embed", {"inputs": f"request {i}"}, conn=conn)
            self.assertEqual(r.status, 200)
        conn.close()
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        u.connect(self.sock)
        u.sendall(b"GET /health HTTP/1.1\r\nHost: omega\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = u.recv(4096)
            if not chunk:
                break
            data += chunk
        u.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
        self.assertIn(b'"status":"ok"', data)

    def test_invoke_hmac(self):
        body = {"action": "embed", "inputs": ["hello world", "b"], "timeout_ms": 5000}
        ok = self.s.signed(SECRET, "POST", "/invoke", body)
        self.assertEqual(ok.status, 200, ok.body)
        d = ok.json()
        self.assertEqual(d["action"], "embed")
        self.assertEqual(len(d["embeddings"]), 2)
        ref = self.s.post("/embed", {"inputs": "hello world"}).json()[0]
        for a, b in zip(d["embeddings"][0], ref):
            self.assertAlmostEqual(a, b, places=6)
        raw = json.dumps(body).encode()
        def send(headers, payload=raw):
            return self.s.request("POST", "/invoke", payload, headers=headers)
        bad_sig = sign("wrong-secret", "POST", "/invoke", raw)
        self.assertEqual(send(bad_sig).status, 401)
        old = sign(SECRET, "POST", "/invoke", raw, ts=int(time.time()) - 301)
        r = send(old)
        self.assertEqual(r.status, 401)
        self.assertIn("window", r.json()["error"])
        future = sign(SECRET, "POST", "/invoke", raw, ts=int(time.time()) + 301)
        self.assertEqual(send(future).status, 401)
        edge = sign(SECRET, "POST", "/invoke", raw, ts=int(time.time()) - 250)
        self.assertEqual(send(edge).status, 200)
        replay = sign(SECRET, "POST", "/invoke", raw)
        self.assertEqual(send(replay).status, 200)
        r = send(replay)
        self.assertEqual(r.status, 401)
        self.assertIn("nonce already used", r.json()["error"])
        tampered = sign(SECRET, "POST", "/invoke", raw)
        self.assertEqual(send(tampered, raw.replace(b"hello", b"jello")).status, 401)
        short_nonce = sign(SECRET, "POST", "/invoke", raw, nonce="short")
        self.assertEqual(send(short_nonce).status, 401)
        bad_chars = sign(SECRET, "POST", "/invoke", raw, nonce="bad nonce with spaces!!")
        self.assertEqual(send(bad_chars).status, 401)
        self.assertEqual(send({}).status, 401)
        wrong_path = sign(SECRET, "POST", "/embed", raw)
        self.assertEqual(send(wrong_path).status, 401)
        unknown = self.s.signed(SECRET, "POST", "/invoke", {"action": "fly", "inputs": "x"})
        self.assertEqual(unknown.status, 422)
        self.assertIn("unknown action", unknown.json()["error"])
        self.assertGreaterEqual(self.s.metric("omega_auth_failures_total", {"reason": "bad_signature"}), 3)
        self.assertGreaterEqual(self.s.metric("omega_auth_failures_total", {"reason": "replayed_nonce"}), 1)
        self.assertNotIn(SECRET, self.s.text())  # never logged

    def test_readme_hmac_example(self):
        """The curl + openssl example of the README, run as written (port and secret path swapped)."""
        readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
        block = readme.split("<!-- hmac-example:begin -->")[1].split("<!-- hmac-example:end -->")[0]
        script = block.split("```sh\n")[1].split("```")[0]
        script = script.replace("/run/secrets/omega-hmac", os.path.join(self.tmp, "secret"))
        script = script.replace("localhost:8080", f"127.0.0.1:{self.s.port}")
        r = subprocess.run(["bash", "-c", script], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        d = json.loads(r.stdout)
        self.assertEqual(d["action"], "embed")
        self.assertEqual(len(d["embeddings"][0]), 64)

    def test_accel_config(self):
        self.assertEqual(self.s.get("/accel/config").status, 401)
        g = self.s.signed(SECRET, "GET", "/accel/config", b"")
        self.assertEqual(g.status, 200, g.body)
        settings = {x["name"]: x for x in g.json()["settings"]}
        self.assertEqual(settings["EMBED_MAX_BATCH"]["value"], "64")
        self.assertEqual(settings["EMBED_MAX_BATCH"]["source"], "default")
        self.assertTrue(settings["EMBED_MAX_BATCH"]["hot_reloadable"])
        self.assertFalse(settings["OMEGA_PORT"]["hot_reloadable"])
        self.assertEqual(settings["OMEGA_HMAC_SECRET"]["value"], "")
        put = self.s.signed(SECRET, "PUT", "/accel/config", {"EMBED_MAX_BATCH": 16, "EMBED_ADAPTIVE_BATCHING": False})
        self.assertEqual(put.status, 200, put.body)
        settings = {x["name"]: x for x in put.json()["settings"]}
        self.assertEqual(settings["EMBED_MAX_BATCH"]["value"], "16")
        self.assertEqual(settings["EMBED_MAX_BATCH"]["source"], "runtime")
        self.assertEqual(self.s.metric("omega_batch_ceiling"), 16)
        r = self.s.signed(SECRET, "PUT", "/accel/config", {"OMEGA_PORT": 1})
        self.assertEqual(r.status, 422)
        self.assertIn("restart-only", r.json()["error"])
        r = self.s.signed(SECRET, "PUT", "/accel/config", {"EMBED_MAX_BATCH": 32, "ACCEL_TARGET_LAT_MS": "soon"})
        self.assertEqual(r.status, 422)
        g = {x["name"]: x["value"] for x in self.s.signed(SECRET, "GET", "/accel/config", b"").json()["settings"]}
        self.assertEqual(g["EMBED_MAX_BATCH"], "16")  # all or nothing
        self.assertEqual(self.s.signed(SECRET, "PUT", "/accel/config", {"settings": {"EMBED_MAX_BATCH": 64,
                         "EMBED_ADAPTIVE_BATCHING": True}}).status, 200)
        self.assertEqual(self.s.signed(SECRET, "PUT", "/accel/config", "{oops").status, 400)

    def test_metrics_and_health_agree(self):
        self.s.post("/embed", {"inputs": "count me"})
        text = self.s.get("/metrics").body.decode()
        for series in ["omega_embed_route_total", "omega_embed_cuda_oom_total", "omega_embed_latency_ms_bucket",
                       "omega_embed_batch_size_bucket", "omega_gpu_vram_used_mb", "omega_maybe_async_routed_total",
                       "omega_http_requests_total", "omega_queue_depth", "omega_inflight_requests",
                       "omega_queue_time_ms_bucket", "omega_tokenize_time_ms_bucket", "omega_inference_time_ms_bucket",
                       "omega_tokens_processed_total", "omega_batch_ceiling", "omega_config_reloads_total",
                       "omega_auth_failures_total", "omega_worker_pool_busy", "omega_worker_pool_queued",
                       "omega_process_resident_memory_bytes", "omega_build_info"]:
            self.assertIn(series, text)
        self.assertIn("# TYPE omega_embed_latency_ms histogram", text)
        h = self.s.get("/accel/health").json()
        self.assertEqual(h["routes"]["cpu"], self.s.metric("omega_embed_route_total", {"route": "cpu"}))
        self.assertEqual(h["batcher"]["batch_ceiling"], self.s.metric("omega_batch_ceiling"))
        self.assertEqual(h["device"]["active"], "cpu")
        self.assertIn("avx2", h["cpu"]["features"])
        self.assertEqual(h["config"]["OMEGA_HMAC_SECRET"], "")
        self.assertEqual(h["config"]["EMBED_MAX_BATCH"], "64")
        self.assertEqual(h["status"], "ok")


class Prompts(unittest.TestCase):
    """sentence-transformers prompts: "prompt_name" and "prompt" on /embed and /v1/embeddings,
    the model's default_prompt_name when a request names none, /info listing them."""

    @classmethod
    def setUpClass(cls):
        cls.model = tempfile.mkdtemp(prefix="omega-prompts-")
        subprocess.run(["cp", "-r", small_model() + "/.", cls.model], check=True)
        with open(os.path.join(cls.model, "config_sentence_transformers.json"), "w") as f:
            json.dump({"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": "passage"}, f)
        cls.s = Server(model=cls.model)
        cls.plain = Server()  # the same weights without prompts: what each prompted text must equal

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0
        assert cls.plain.stop() == 0

    def same(self, a, b):
        self.assertEqual(len(a), len(b))
        for x, y in zip(a, b):
            self.assertAlmostEqual(x, y, places=6)

    def test_named_default_and_explicit(self):
        text = "what is the capital of France"
        want = {p: self.plain.post("/embed", {"inputs": p + text}).json()[0] for p in ("query: ", "passage: ", "Q> ")}
        self.same(self.s.post("/embed", {"inputs": text, "prompt_name": "query"}).json()[0], want["query: "])
        self.same(self.s.post("/embed", {"inputs": text}).json()[0], want["passage: "])  # the default
        self.same(self.s.post("/embed", {"inputs": text, "prompt": "Q> "}).json()[0], want["Q> "])
        bare = self.plain.post("/embed", {"inputs": text}).json()[0]
        self.same(self.s.post("/embed", {"inputs": text, "prompt": ""}).json()[0], bare)  # "" overrides the default
        oa = self.s.post("/v1/embeddings", {"input": [text], "prompt_name": "query"}).json()["data"][0]["embedding"]
        self.same(oa, want["query: "])

    def test_errors_name_the_problem(self):
        r = self.s.post("/embed", {"inputs": "x", "prompt_name": "nope"})
        self.assertEqual(r.status, 422, r.body)
        self.assertIn("nope", r.json()["error"])
        self.assertIn("query", r.json()["error"])
        r = self.plain.post("/embed", {"inputs": "x", "prompt_name": "query"})
        self.assertEqual(r.status, 422, r.body)
        self.assertIn("no prompts", r.json()["error"])
        for bad in (3, ["query"], ""):
            r = self.s.post("/embed", {"inputs": "x", "prompt_name": bad})
            self.assertEqual(r.status, 422, r.body)
            self.assertIn("prompt_name", r.json()["error"])
        r = self.s.post("/v1/embeddings", {"input": [[101, 102]], "prompt": "query: "})
        self.assertEqual(r.status, 422, r.body)
        self.assertIn("token ids", r.json()["error"])

    def test_info_lists_prompts(self):
        info = self.s.get("/info").json()
        self.assertEqual(info["prompts"], {"query": "query: ", "passage": "passage: "})
        self.assertEqual(info["default_prompt_name"], "passage")
        self.assertEqual(info["tokenizer"], "WordPiece")
        self.assertEqual(info["architecture"], "bert")
        plain = self.plain.get("/info").json()
        self.assertEqual(plain["prompts"], {})
        self.assertIsNone(plain["default_prompt_name"])


class CrossEncoder(unittest.TestCase):
    """TEI's /rerank and /predict with cross-encoders (a one-label reranker and a three-label
    pair classifier), against `omega rerank` and each other; the embedding routes refuse them."""

    @classmethod
    def setUpClass(cls):
        from omega_test_server import GENMODEL
        cls.rr_dir = tempfile.mkdtemp(prefix="omega-rr-")
        cls.cls_dir = tempfile.mkdtemp(prefix="omega-cls-")
        for d, labels in ((cls.rr_dir, "1"), (cls.cls_dir, "3")):
            subprocess.run([GENMODEL, "--out", d, "--family", "bert", "--head", "rerank", "--num-labels", labels,
                            "--hidden", "64", "--layers", "2", "--heads", "2", "--intermediate", "128",
                            "--max-seq-length", "32", "--seed", "5"], check=True, stderr=subprocess.DEVNULL)
        cls.rr = Server(model=cls.rr_dir)
        cls.cls = Server(model=cls.cls_dir)
        cls.emb = Server()

    @classmethod
    def tearDownClass(cls):
        for s in (cls.rr, cls.cls, cls.emb):
            assert s.stop() == 0

    def test_rerank_sorted_and_equal_to_the_cli(self):
        texts = ["Paris is the capital of France.", "Berlin is in Germany.", "", "cats", "Paris"]
        r = self.rr.post("/rerank", {"query": "capital of France", "texts": texts, "return_text": True})
        self.assertEqual(r.status, 200, r.body)
        rows = r.json()
        self.assertEqual(sorted(x["index"] for x in rows), list(range(len(texts))))
        scores = [x["score"] for x in rows]
        self.assertEqual(scores, sorted(scores, reverse=True))
        for x in rows:
            self.assertEqual(x["text"], texts[x["index"]])
            self.assertTrue(0.0 < x["score"] < 1.0)  # sigmoid
        raw = {x["index"]: x["score"] for x in self.rr.post("/rerank", {"query": "capital of France", "texts": texts,
                                                                         "raw_scores": True}).json()}
        for x in rows:
            self.assertAlmostEqual(x["score"], 1.0 / (1.0 + math.exp(-raw[x["index"]])), places=6)
            self.assertNotIn("text", self.rr.post("/rerank", {"query": "q", "texts": ["a"]}).json()[0])
        cli = subprocess.run([OMEGA, "rerank", "--model", self.rr_dir, "--query", "capital of France", "--accel", "cpu",
                              "--precision", "fp32"],
                             input="\n".join(texts).encode() + b"\n", capture_output=True, check=True).stdout
        cli_rows = [json.loads(line) for line in cli.decode().splitlines()]
        self.assertEqual([x["index"] for x in cli_rows], [x["index"] for x in rows])
        for a, b in zip(cli_rows, rows):
            self.assertAlmostEqual(a["score"], b["score"], places=6)

    def test_predict_texts_pairs_and_batches(self):
        one = self.cls.post("/predict", {"inputs": "a text to classify"})
        self.assertEqual(one.status, 200, one.body)
        labels = one.json()
        self.assertEqual(sorted(x["label"] for x in labels), ["LABEL_0", "LABEL_1", "LABEL_2"])
        self.assertAlmostEqual(sum(x["score"] for x in labels), 1.0, places=5)  # softmax
        self.assertEqual([x["score"] for x in labels], sorted((x["score"] for x in labels), reverse=True))
        pair = self.cls.post("/predict", {"inputs": ["a question", "an answer"]}).json()
        self.assertEqual(len(pair), 3)
        batch = self.cls.post("/predict", {"inputs": [["a question", "an answer"], ["b", "c"]]}).json()
        self.assertEqual(len(batch), 2)
        self.assertEqual(batch[0], pair)
        texts = self.cls.post("/predict", {"inputs": ["x", "y", "z"]}).json()
        self.assertEqual(len(texts), 3)
        raw = self.cls.post("/predict", {"inputs": "a text to classify", "raw_scores": True}).json()
        self.assertGreater(abs(sum(x["score"] for x in raw) - 1.0), 1e-3)
        # a one-label model: sigmoid, as TEI
        rr = self.rr.post("/predict", {"inputs": ["capital of France", "Paris"]}).json()
        want = self.rr.post("/rerank", {"query": "capital of France", "texts": ["Paris"]}).json()[0]["score"]
        self.assertAlmostEqual(rr[0]["score"], want, places=6)

    def test_info_describes_the_head(self):
        info = self.cls.get("/info").json()
        self.assertEqual(info["model_type"], {"classifier": {"id2label": {"0": "LABEL_0", "1": "LABEL_1",
                                                                          "2": "LABEL_2"}}})
        self.assertEqual(info["classifier"], "BertForSequenceClassification")
        self.assertIn("reranker", self.rr.get("/info").json()["model_type"])

    def test_errors_name_the_problem(self):
        for body, word in (({"texts": ["a"]}, "query"), ({"query": "q"}, "texts"), ({"query": "q", "texts": []}, "empty"),
                           ({"query": "q", "texts": ["a", 3]}, "texts\"[1]"), ({"query": 3, "texts": ["a"]}, "query"),
                           ({"query": "q", "texts": ["a"], "raw_scores": "yes"}, "raw_scores")):
            r = self.rr.post("/rerank", body)
            self.assertEqual(r.status, 422, (body, r.body))
            self.assertIn(word, r.json()["error"])
        r = self.cls.post("/predict", {"inputs": ["a", ["b", "c"], "d"]})
        self.assertEqual(r.status, 422, r.body)
        self.assertIn("all texts or all pairs", r.json()["error"])
        r = self.cls.post("/predict", {"inputs": 3})
        self.assertEqual(r.status, 422, r.body)
        r = self.rr.post("/embed", {"inputs": "x"})
        self.assertEqual(r.status, 400, r.body)
        self.assertIn("/rerank", r.json()["error"])
        r = self.emb.post("/rerank", {"query": "q", "texts": ["a"]})
        self.assertEqual(r.status, 400, r.body)
        self.assertIn("embedding model", r.json()["error"])
        r = self.cls.post("/rerank", {"query": "q", "texts": ["a"]})
        self.assertEqual(r.status, 400, r.body)
        self.assertIn("several labels", r.json()["error"])
        long = " ".join(["word"] * 600)  # past the 512 positions (a cross-encoder folder has no max_seq_length)
        r = self.rr.post("/rerank", {"query": "q", "texts": [long]})
        self.assertEqual(r.status, 422, r.body)  # as /embed
        self.assertIn("max_seq_length 512", r.json()["error"])
        self.assertEqual(self.rr.post("/rerank", {"query": "q", "texts": [long], "truncate": True}).status, 200)


class NoSecret(unittest.TestCase):
    def test_fail_closed(self):
        s = Server()
        try:
            r = s.post("/invoke", {"action": "embed", "inputs": "x"}, headers=sign("any", "POST", "/invoke", b"{}"))
            self.assertEqual(r.status, 503)
            self.assertIn("OMEGA_HMAC_SECRET_FILE", r.json()["error"])
            self.assertEqual(s.get("/accel/config").status, 503)
        finally:
            self.assertEqual(s.stop(), 0)


class Behaviour(unittest.TestCase):
    def test_not_ready_while_loading(self):
        s = Server(env={"OMEGA_FAULT_INJECT": "load_delay_ms:1500"}, wait_ready=False)
        try:
            self.assertEqual(s.get("/health").status, 200)
            r = s.get("/ready")
            self.assertEqual(r.status, 503)
            self.assertIn("loading", r.json()["error"])
            self.assertEqual(s.post("/embed", {"inputs": "x"}).status, 503)
            self.assertEqual(s.get("/accel/health").json()["status"], "starting")
            s.wait_ready()
            self.assertEqual(s.post("/embed", {"inputs": "x"}).status, 200)
        finally:
            self.assertEqual(s.stop(), 0)

    def test_deadline_504(self):
        s = Server(env={"OMEGA_FAULT_INJECT": "batch_delay_ms:400", "OMEGA_HMAC_SECRET": SECRET})
        try:
            t0 = time.time()
            r = s.post("/embed", {"inputs": ["a", "b"]}, headers={"X-Omega-Timeout-Ms": "100"})
            self.assertEqual(r.status, 504, r.body)
            self.assertEqual(r.json()["error_type"], "timeout")
            self.assertEqual(s.post("/embed", {"inputs": "a"}, headers={"X-Omega-Timeout-Ms": "zero"}).status, 400)
            inv = s.signed(SECRET, "POST", "/invoke", {"action": "embed", "inputs": ["a"], "timeout_ms": 100})
            self.assertEqual(inv.status, 504)
            self.assertGreaterEqual(s.metric("omega_requests_timed_out_total"), 2)
            self.assertEqual(s.post("/embed", {"inputs": "a"}).status, 200)  # a generous default
            self.assertLess(time.time() - t0, 10)
        finally:
            self.assertEqual(s.stop(), 0)

    def test_queue_full_429(self):
        s = Server(env={"OMEGA_FAULT_INJECT": "batch_delay_ms:150", "EMBED_QUEUE_CAPACITY": "4",
                        "EMBED_MAX_BATCH": "1", "OMEGA_RETRY_AFTER_S": "2"})
        try:
            res = run_threads(12, lambda i: s.post("/embed", {"inputs": ["a", "b"]}))
            statuses = sorted(r.status for r in res)
            self.assertIn(200, statuses)
            self.assertIn(429, statuses)
            self.assertEqual(set(statuses), {200, 429})
            busy = [r for r in res if r.status == 429][0]
            self.assertEqual(busy.headers["retry-after"], "2")
            self.assertIn("queue full", busy.json()["error"])
            self.assertGreaterEqual(s.metric("omega_requests_rejected_total", {"reason": "queue_full"}), 1)
        finally:
            self.assertEqual(s.stop(), 0)

    def test_client_disconnect_drops_queued_work(self):
        s = Server(env={"OMEGA_FAULT_INJECT": "batch_delay_ms:300", "EMBED_MAX_BATCH": "1"})
        try:
            before = s.metric("omega_sequences_processed_total")
            hold = threading.Thread(target=lambda: s.post("/embed", {"inputs": "first"}))
            hold.start()
            time.sleep(0.1)
            body = json.dumps({"inputs": ["x1", "x2", "x3", "x4"]}).encode()
            raw_request(s.port, b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(body), body), read=False)
            hold.join()
            time.sleep(1.5)
            self.assertGreaterEqual(s.metric("omega_requests_canceled_total", {"reason": "client_gone"}), 1)
            # the four sequences of the abandoned request never ran
            self.assertLess(s.metric("omega_sequences_processed_total") - before, 4)
            self.assertEqual(s.post("/embed", {"inputs": "after"}).status, 200)
        finally:
            self.assertEqual(s.stop(), 0)

    def test_hot_reload_under_load(self):
        tmp = tempfile.mkdtemp(prefix="omega-reload-")
        cfg = os.path.join(tmp, "omega.env")
        with open(cfg, "w") as f:
            f.write("EMBED_MAX_BATCH=8\nACCEL_TARGET_LAT_MS=200\n")
        s = Server(["--config", cfg], env={"OMEGA_HMAC_SECRET": SECRET})
        stop = threading.Event()
        failures, done = [], [0]
        def load(i):
            conn = None
            while not stop.is_set():
                r = s.post("/embed", {"inputs": [f"load {i} {done[0]}", "second input"]})
                if r.status != 200:
                    failures.append((r.status, r.body))
                done[0] += 1
        threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
        try:
            for t in threads:
                t.start()
            def values():
                return {x["name"]: (x["value"], x["source"]) for x in
                        s.signed(SECRET, "GET", "/accel/config", b"").json()["settings"]}
            def wait_for(name, value, timeout=5):
                end = time.time() + timeout
                while time.time() < end:
                    if values()[name][0] == value:
                        return True
                    time.sleep(0.05)
                return False
            time.sleep(0.3)
            with open(cfg + ".tmp", "w") as f:  # an editor's atomic rename, seen by inotify
                f.write("EMBED_MAX_BATCH=4\nACCEL_TARGET_LAT_MS=200\n")
            os.rename(cfg + ".tmp", cfg)
            self.assertTrue(wait_for("EMBED_MAX_BATCH", "4"))
            self.assertEqual(values()["EMBED_MAX_BATCH"][1], "file")
            with open(cfg, "w") as f:
                f.write("EMBED_MAX_BATCH=0\n")  # invalid: rejected whole
            time.sleep(0.6)
            self.assertEqual(values()["EMBED_MAX_BATCH"][0], "4")
            with open(cfg + ".tmp", "w") as f:
                f.write("EMBED_MAX_BATCH=6\nACCEL_TARGET_LAT_MS=50\nEMBED_THREADS=1\n")
            os.rename(cfg + ".tmp", cfg)
            s.signal(signal.SIGHUP)
            self.assertTrue(wait_for("ACCEL_TARGET_LAT_MS", "50"))
            self.assertEqual(values()["EMBED_THREADS"][0], "0")  # restart-only: kept
            self.assertIn("EMBED_THREADS changed but needs a restart", s.text())
            r = s.signed(SECRET, "PUT", "/accel/config", {"EMBED_MAX_BATCH": 12})
            self.assertEqual(r.status, 200)
            self.assertEqual(values()["EMBED_MAX_BATCH"], ("12", "runtime"))
            time.sleep(0.3)
        finally:
            stop.set()
            for t in threads:
                t.join()
            code = s.stop()
        self.assertEqual(failures, [])
        self.assertGreater(done[0], 20)
        self.assertEqual(code, 0)
        self.assertIn("config reload (config file changed) rejected", s.text())

    def test_sigterm_drains_in_flight(self):
        s = Server(env={"OMEGA_FAULT_INJECT": "batch_delay_ms:400", "EMBED_MAX_BATCH": "2"})
        import http.client
        keep = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        self.assertEqual(s.request("GET", "/ready", conn=keep).status, 200)
        results = []
        def call(i):
            return s.post("/embed", {"inputs": [f"in flight {i}"]}, timeout=30)
        th = threading.Thread(target=lambda: results.extend(run_threads(6, call)))
        th.start()
        time.sleep(0.3)  # all six are queued or running
        s.signal(signal.SIGTERM)
        time.sleep(0.2)
        draining = s.request("GET", "/ready", conn=keep)
        self.assertEqual(draining.status, 503)
        # a keep-alive client is told not to send more on a connection about to close
        self.assertEqual(draining.headers.get("connection"), "close")
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
        th.join()
        keep.close()
        s.log.close()
        self.assertEqual([r.status for r in results], [200] * 6)
        self.assertEqual(s.proc.wait(30), 0)
        self.assertIn("stopped cleanly", s.text())

    def test_profiles_and_overrides(self):
        s = Server(["--profile", "LOW_LATENCY", "--set", "EMBED_GPU_SLOTS=3"], env={"OMEGA_HMAC_SECRET": SECRET})
        try:
            v = {x["name"]: (x["value"], x["source"]) for x in
                 s.signed(SECRET, "GET", "/accel/config", b"").json()["settings"]}
            self.assertEqual(v["EMBED_MAX_BATCH"], ("16", "profile"))
            self.assertEqual(v["ACCEL_TARGET_LAT_MS"], ("25", "profile"))
            self.assertEqual(v["EMBED_GPU_SLOTS"], ("3", "cli"))
            self.assertEqual(v["OMEGA_PROFILE"], ("LOW_LATENCY", "cli"))
        finally:
            self.assertEqual(s.stop(), 0)

    def test_adaptive_ceiling_backs_off(self):
        s = Server(env={"ACCEL_TARGET_LAT_MS": "1", "EMBED_MAX_BATCH": "32", "OMEGA_FAULT_INJECT": "batch_delay_ms:5"})
        try:
            stop = time.time() + 4
            def hammer(i):
                while time.time() < stop:
                    s.post("/embed", {"inputs": "adapt"})
            run_threads(8, hammer)
            self.assertLess(s.metric("omega_batch_ceiling"), 32)
            self.assertGreaterEqual(s.metric("omega_batch_ceiling_changes_total", {"direction": "down"}), 1)
        finally:
            self.assertEqual(s.stop(), 0)

    def test_start_up_errors(self):
        r = subprocess.run([OMEGA, "serve", "--model", small_model(), "--port", "0"], capture_output=True,
                           env={**os.environ, "OMEGA_ACCEL": "gpu"}, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"OMEGA_ACCEL=gpu but no usable GPU", r.stdout + r.stderr)
        r = subprocess.run([OMEGA, "serve", "--model", "/nonexistent/model", "--port", "0"], capture_output=True,
                           timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"/nonexistent/model", r.stdout + r.stderr)
        r = subprocess.run([OMEGA, "serve", "--model", small_model(), "--set", "EMBED_MAX_BATCH=-1"],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"EMBED_MAX_BATCH", r.stderr)
        r = subprocess.run([OMEGA, "serve", "--model", small_model(), "--port", "0"], capture_output=True,
                           env={**os.environ, "OMEGA_HMAC_SECRET_FILE": "/nonexistent/secret"}, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"OMEGA_HMAC_SECRET_FILE", r.stdout + r.stderr)


class CpuPrecision(unittest.TestCase):
    """EMBED_CPU_PRECISION picks the CPU backend's mode: /info says which one runs, and its
    embeddings are the fp32 server's within the mode's bound; a mode the CPU cannot run stops
    the start with the reason."""
    TEXTS = ["the quick brown fox", "a longer sentence about embeddings and vector search servers",
             "x", "numbers 12345 and symbols !?"]

    def serve(self, precision, extra=None):
        """A ready server in `precision`, or None when it refused to start (its log checked)."""
        s = Server(env={"EMBED_CPU_PRECISION": precision, **(extra or {})}, wait_ready=False)
        end = time.time() + 60
        while time.time() < end:
            if s.proc.poll() is not None:
                s.stop()
                self.assertIn(f"CPU precision {precision} is not available on this CPU", s.text())
                return None
            try:
                if s.get("/ready").status == 200:
                    return s
            except OSError:
                pass
            time.sleep(0.05)
        s.stop()
        self.fail("not ready: " + s.text())

    def embed(self, s):
        r = s.post("/embed", {"inputs": self.TEXTS})
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def test_modes(self):
        ref_srv = self.serve("fp32")
        ref = self.embed(ref_srv)
        self.assertEqual(ref_srv.get("/info").json()["cpu_precision"], "fp32")
        self.assertEqual(ref_srv.stop(), 0)
        ran = []
        for precision, bound in (("bf16x3", 1e-6), ("bf16", 1e-3), ("int8", 1e-3)):
            s = self.serve(precision)
            if s is None:
                continue
            try:
                self.assertEqual(s.get("/info").json()["cpu_precision"], precision)
                got = self.embed(s)
            finally:
                self.assertEqual(s.stop(), 0)
            for a, b in zip(got, ref):
                self.assertGreater(sum(x * y for x, y in zip(a, b)), 1 - bound, precision)
            if precision != "bf16x3":  # rounded: not the fp32 bytes
                self.assertTrue(got != ref, f"{precision} gave fp32's bytes")
            ran.append(precision)
        with open("/proc/cpuinfo") as f:
            if " avx2" in f.read():  # int8 needs no more than AVX2
                self.assertIn("int8", ran)

    def test_auto(self):
        """auto times each mode at start-up, runs the fastest within the bound (the same bytes as
        that mode set by hand), reports it in /info, /accel/health and the log, and a restart
        reads the choice from its cache folder."""
        cache = tempfile.mkdtemp(prefix="omega-auto-cache-")
        self.addCleanup(shutil.rmtree, cache, True)
        s = self.serve("auto", {"EMBED_CPU_AUTO_CACHE_DIR": cache})
        try:
            info = s.get("/info").json()
            health = s.get("/accel/health").json()
            got = self.embed(s)
        finally:
            self.assertEqual(s.stop(), 0)
        auto = info["cpu_precision_auto"]
        chosen = auto["chosen"]
        self.assertIn(chosen, ("fp32", "bf16", "bf16x3", "int8"))
        self.assertEqual(info["cpu_precision"], chosen)
        self.assertEqual(auto["min_cosine"], 0.9999)
        self.assertFalse(auto["cached"])
        self.assertEqual(auto["trials"][0]["precision"], "fp32")
        for t in auto["trials"]:
            self.assertGreater(t["ms"], 0)
            self.assertEqual(t["accepted"], t["precision"] == "fp32" or t["min_cosine"] >= 0.9999, t)
        self.assertTrue([t for t in auto["trials"] if t["precision"] == chosen][0]["accepted"])
        self.assertTrue(auto["cache"].startswith(cache + "/cpu-precision-"), auto["cache"])
        self.assertTrue(os.path.exists(auto["cache"]))
        self.assertEqual(health["cpu"]["precision"], chosen)
        self.assertEqual(health["cpu"]["precision_auto"], auto)
        self.assertIn(f"CPU precision auto: {chosen} (fp32 ", s.text())

        by_hand = self.serve(chosen)
        try:
            self.assertIsNone(by_hand.get("/info").json()["cpu_precision_auto"])
            self.assertEqual(self.embed(by_hand), got)
        finally:
            self.assertEqual(by_hand.stop(), 0)

        again = self.serve("auto", {"EMBED_CPU_AUTO_CACHE_DIR": cache})
        try:
            auto2 = again.get("/info").json()["cpu_precision_auto"]
        finally:
            self.assertEqual(again.stop(), 0)
        self.assertTrue(auto2["cached"])
        self.assertEqual(auto2["chosen"], chosen)
        self.assertEqual(auto2["trials"], auto["trials"])
        self.assertIn("from the cache", again.text())

        exact = self.serve("auto", {"EMBED_CPU_AUTO_MIN_COSINE": "1", "EMBED_CPU_AUTO_CACHE_DIR": "off"})
        try:
            auto3 = exact.get("/info").json()["cpu_precision_auto"]
        finally:
            self.assertEqual(exact.stop(), 0)
        self.assertEqual(auto3["cache"], "off")
        for t in auto3["trials"]:
            self.assertEqual(t["accepted"], t["precision"] == "fp32" or t["min_cosine"] >= 1, t)

        r = subprocess.run([OMEGA, "serve", "--model", small_model(), "--port", "0"], capture_output=True,
                           env={**os.environ, "EMBED_CPU_AUTO_MIN_COSINE": "1.5"}, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"EMBED_CPU_AUTO_MIN_COSINE must be a number in [0, 1]", r.stdout + r.stderr)

    def test_refused(self):
        r = subprocess.run([OMEGA, "serve", "--model", small_model(), "--port", "0"], capture_output=True,
                           env={**os.environ, "EMBED_CPU_PRECISION": "int8", "OMEGA_CPU_ISA": "portable"},
                           timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"CPU precision int8 is not available on this CPU (portable kernels)", r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
