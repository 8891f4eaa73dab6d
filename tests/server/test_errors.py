"""Black-box tests of `omega serve`: an error answer names its own request's problem only, while
other clients fail for other reasons on the same worker threads at the same time; /tokenize
answers 422 past OMEGA_TOKENIZE_MAX_TOKENS.

  OMEGA_BIN=build/omega OMEGA_GENMODEL=build/omega-genmodel python3 tests/server/test_errors.py
"""
import http.client
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from omega_test_server import Server, run_threads  # noqa: E402

SECRET = "errors-secret-0123456789"

THREADS = 3   # of each kind of client
REQUESTS = 80  # per thread: 240 of each kind

# Words of an invalid input's error; an engine failure's answer must contain none of them.
INPUT_WORDS = ("token id", "tokens", "max_seq_length", "input ", "vocabulary")
# Words of a device failure; a validation error must contain none of them.
DEVICE_WORDS = ("memory", "GPU", "device", "ACCEL_OOM")


class ErrorsStayWithTheirRequest(unittest.TestCase):
    """Clients A send inputs the engine refuses (an id outside the vocabulary, a text too long
    with truncation off); clients B send valid texts to /embed, /v1/embeddings, a text upsert
    and a text search while the simulated GPU fails half the batches with out-of-memory and the
    CPU fallback is off. Two workers serve them all, so each worker alternates between them."""

    @classmethod
    def setUpClass(cls):
        cls.s = Server(env={"OMEGA_ACCEL": "gpu", "OMEGA_CUDA_PLUGIN": "/nonexistent/libomega-cuda.so",
                            "OMEGA_FAULT_INJECT": "gpu_sim:1", "ACCEL_OOM_CPU_FALLBACK": "false",
                            "OMEGA_WORKERS": "2", "EMBED_GPU_SLOTS": "2", "EMBED_MAX_BATCH": "4",
                            "OMEGA_HMAC_SECRET": SECRET})
        r = cls.s.post("/collections", {"name": "docs", "dim": 64, "kind": "flat"})
        assert r.status == 201, r.body
        # out-of-memory only once warmed up: a warm-up that fails stops the start
        r = cls.s.signed(SECRET, "PUT", "/accel/config", {"OMEGA_FAULT_INJECT": "gpu_sim:1,cuda_oom:0.5"})
        assert r.status == 200, r.body

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def client_a(self, t):
        """Refused inputs, each naming its own id or token count; the wrong answers, if any."""
        conn = http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=60)
        wrong = []
        for i in range(REQUESTS):
            if i % 2:
                bad = 7000000 + t * 1000 + i
                r = self.s.post("/v1/embeddings", {"input": [[101, bad, 102]]}, conn=conn)
                own = f"token id {bad} is outside the vocabulary"
            else:
                words = 40 + (t * REQUESTS + i) % 50
                r = self.s.post("/embed", {"inputs": "word " * words, "truncate": False}, conn=conn)
                own = f"{words + 2} tokens, more than"
            err = r.json().get("error", "") if r.status != 200 else ""
            if r.status != 422 or own not in err or any(w in err for w in DEVICE_WORDS):
                wrong.append((r.status, own, err))
        conn.close()
        return wrong

    def client_b(self, t):
        """Valid texts: 200, or 503 naming the GPU's out-of-memory; per route, the counts and
        the wrong answers."""
        conn = http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=60)
        routes = [("/embed", lambda i: {"inputs": "hello world"}),
                  ("/v1/embeddings", lambda i: {"input": ["hello", "world"]}),
                  ("/collections/docs/upsert", lambda i: {"points": [{"id": t * REQUESTS + i, "text": f"doc {i}"}]}),
                  ("/collections/docs/search", lambda i: {"text": "doc", "k": 3})]
        seen, wrong = {}, []
        for i in range(REQUESTS):
            path, body = routes[i % len(routes)]
            r = self.s.post(path, body(i), conn=conn)
            seen.setdefault(path, {}).setdefault(r.status, 0)
            seen[path][r.status] += 1
            if r.status == 200:
                continue
            err = r.json().get("error", "")
            if (r.status != 503 or "GPU out of memory and ACCEL_OOM_CPU_FALLBACK is off" not in err
                    or any(w in err for w in INPUT_WORDS)):
                wrong.append((path, r.status, err))
        conn.close()
        return seen, wrong

    def test_concurrent_failures_name_only_their_own_problem(self):
        def work(i):
            return ("a", self.client_a(i)) if i < THREADS else ("b", self.client_b(i - THREADS))
        results = run_threads(2 * THREADS, work)
        for res in results:
            if isinstance(res, Exception):
                raise res
        wrong_a = [w for kind, out in results if kind == "a" for w in out]
        self.assertEqual(wrong_a, [], f"{len(wrong_a)} refused inputs answered with another request's problem")
        seen = {}
        wrong_b = []
        for kind, out in results:
            if kind == "b":
                for path, counts in out[0].items():
                    for status, n in counts.items():
                        seen.setdefault(path, {}).setdefault(status, 0)
                        seen[path][status] += n
                wrong_b += out[1]
        self.assertEqual(wrong_b, [], f"{len(wrong_b)} device failures answered with another request's problem")
        for path, counts in seen.items():  # half the batches fail: each route saw both answers
            self.assertGreater(counts.get(200, 0), 0, f"{path}: {counts}")
            self.assertGreater(counts.get(503, 0), 0, f"{path}: {counts}")


class TokenizeBound(unittest.TestCase):
    """/tokenize returns about 40 bytes of JSON a token: past OMEGA_TOKENIZE_MAX_TOKENS the
    answer is 422 naming the count and the bound, not a response 20 times the body."""

    def test_tokens_past_the_bound_are_refused(self):
        s = Server(env={"OMEGA_TOKENIZE_MAX_TOKENS": "100"})
        try:
            ok = s.post("/tokenize", {"inputs": ["word " * 48, "word"]})  # 50 + 3 tokens
            self.assertEqual(ok.status, 200, ok.body)
            self.assertEqual(sum(len(x) for x in ok.json()), 53)
            over = s.post("/tokenize", {"inputs": ["word " * 48, "word " * 60]})  # 50 + 62
            self.assertEqual(over.status, 422, over.body)
            d = over.json()
            self.assertEqual(d["error_type"], "validation")
            self.assertIn("112 tokens, more than the limit of 100", d["error"])
            self.assertIn("OMEGA_TOKENIZE_MAX_TOKENS", d["error"])
            # without the special tokens, or truncated to the model's 32, the same texts fit
            bare = s.post("/tokenize", {"inputs": ["word " * 49, "word " * 49], "add_special_tokens": False})
            self.assertEqual(bare.status, 200, bare.body)
            cut = s.post("/tokenize", {"inputs": ["word " * 48, "word " * 60], "truncate": True})
            self.assertEqual(cut.status, 200, cut.body)
            self.assertEqual([len(x) for x in cut.json()], [32, 32])
        finally:
            self.assertEqual(s.stop(), 0)

    def test_default_bound_fits_a_full_request(self):
        s = Server(env={"OMEGA_MAX_BODY_BYTES": "8388608"})
        try:
            # 512 inputs (OMEGA_MAX_INPUTS) of 512 tokens: 262144, the default bound
            full = s.post("/tokenize", {"inputs": ["word " * 510] * 512}, timeout=120)
            self.assertEqual(full.status, 200, full.body[:200])
            over = s.post("/tokenize", {"inputs": ["word " * 510] * 511 + ["word " * 511]}, timeout=120)
            self.assertEqual(over.status, 422, over.body[:200])
            self.assertIn("262145 tokens, more than the limit of 262144", over.json()["error"])
        finally:
            self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
